package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/plugins"
	"github.com/heimdallgw/heimdall/internal/proxy"
	"github.com/heimdallgw/heimdall/internal/router"
	matchvars "github.com/heimdallgw/heimdall/internal/vars"
)

// resource is a plugin configuration (a wasm root context on each instance)
// or an upstream (its keep-alive pools), shared by every generation whose
// configuration has it unchanged: a reload then neither re-runs a plugin's
// on_configure nor drops upstream connections for routes it did not touch.
// It is closed when the last generation using it is released. refs is
// guarded by Gateway.mu.
type resource struct {
	key  string
	c    io.Closer
	refs int
}

// generation is everything built from one apisix.yaml: the route table and
// references on the resources it uses.
type generation struct {
	version uint64
	table   *proxy.Table
	res     []*resource
	routes  map[string]*builtRoute
	// waiting counts the new routes answering 503 until their plugins are
	// configured (a route keeping its previous version does not count);
	// Ready needs 0.
	waiting int
}

// acquire returns the live resource for key, creating it with mk when no
// generation holds one, and records the reference on g.
func (gw *Gateway) acquire(g *generation, key string, mk func() (io.Closer, error)) (io.Closer, error) {
	r, ok := gw.live[key]
	if !ok {
		c, err := mk()
		if err != nil {
			return nil, err
		}
		r = &resource{key: key, c: c}
		gw.live[key] = r
	}
	r.refs++
	g.res = append(g.res, r)
	return r.c, nil
}

// release drops g's references, closing what no generation uses any more.
// The caller holds gw.mu.
func (gw *Gateway) release(g *generation) error {
	var errs []error
	for i := len(g.res) - 1; i >= 0; i-- {
		r := g.res[i]
		if r.refs--; r.refs > 0 {
			continue
		}
		delete(gw.live, r.key)
		if err := r.c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	g.res = nil
	return errors.Join(errs...)
}

// orderedFilter is a route plugin with the keys it runs in order by.
type orderedFilter struct {
	phase    config.Phase
	priority int
	f        filter.Factory
}

// phaseRank orders APISIX phases: rewrite before access.
func phaseRank(p config.Phase) int {
	if p == config.PhaseRewrite {
		return 0
	}
	return 1
}

func upstreamKey(u *config.Upstream) (string, error) {
	c := *u
	c.Line, c.Column = 0, 0 // where it is written does not change what it is
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	return "upstream\x00" + string(b), nil
}

func routeEntry(r *config.Route, pr *proxy.Route) router.Route[*proxy.Route] {
	return router.Route[*proxy.Route]{
		ID: r.ID, URIs: r.URIs, Hosts: r.Hosts, Methods: r.Methods, Priority: r.Priority, Value: pr,
		Vars: r.Vars, RemoteAddrs: r.RemoteAddrs,
	}
}

func factoryKey(plugin, route, conf string) string {
	return "plugin\x00" + plugin + "\x00" + route + "\x00" + conf
}

// builtRoute is one route of a generation, kept so that a later generation
// can carry it over while the route's new configuration is not ready.
type builtRoute struct {
	entry router.Route[*proxy.Route]
	res   []*resource
	// placeholder: the route answers 503 until its plugins are configured.
	placeholder bool
}

// build compiles routes into a generation, reusing the plugin
// configurations and upstreams of live generations where they are
// unchanged. A route whose plugin configuration is not live (still being
// configured, or rejected after the reload was accepted) keeps its previous
// version when the current generation has one, and otherwise answers 503
// until it is ready. The caller holds gw.mu. On error nothing stays
// acquired and the error names the route (file:line) and the plugin.
func (gw *Gateway) build(routes *config.Routes, version uint64) (_ *generation, err error) {
	g := &generation{version: version, routes: make(map[string]*builtRoute)}
	defer func() {
		if err != nil {
			gw.release(g)
		}
	}()

	var rts []router.Route[*proxy.Route]
	for _, r := range routes.Routes {
		if !r.Enabled {
			continue
		}
		where := fmt.Sprintf("%s:%d:%d: route %s", routes.File, r.Line, r.Column, r.ID)
		if waiting := gw.notReady(r); waiting != "" {
			br := gw.carryOver(g, r, waiting)
			if br.placeholder {
				g.waiting++
			}
			g.routes[r.ID] = br
			rts = append(rts, br.entry)
			continue
		}
		first := len(g.res)
		var up *proxy.Upstream
		if r.Upstream != nil {
			key, err := upstreamKey(r.Upstream)
			if err != nil {
				return nil, fmt.Errorf("%s: upstream: %w", where, err)
			}
			c, err := gw.acquire(g, key, func() (io.Closer, error) {
				return proxy.NewUpstream(r.Upstream, proxy.UpstreamOptions{})
			})
			if err != nil {
				return nil, fmt.Errorf("%s: upstream: %w", where, err)
			}
			up = c.(*proxy.Upstream)
		}
		var fs []orderedFilter
		for _, b := range plugins.Builtins {
			f, err := b.New(r)
			if err != nil {
				return nil, fmt.Errorf("%s: plugin %s: %w", where, b.Name, err)
			}
			if f != nil {
				fs = append(fs, orderedFilter{b.Phase, b.Priority, f})
			}
		}
		for _, w := range r.Wasm {
			key := factoryKey(w.Name, r.ID, w.Conf)
			c, err := gw.acquire(g, key, func() (io.Closer, error) {
				return nil, errors.New("plugin configuration is not live") // notReady saw to it
			})
			if err != nil {
				return nil, fmt.Errorf("%s: plugin %s: %w", where, w.Name, err)
			}
			fs = append(fs, orderedFilter{w.Plugin.Phase, w.Plugin.Priority, c.(filter.Factory)})
		}
		sort.SliceStable(fs, func(i, j int) bool {
			if a, b := phaseRank(fs[i].phase), phaseRank(fs[j].phase); a != b {
				return a < b
			}
			return fs[i].priority > fs[j].priority
		})
		pr := &proxy.Route{ID: r.ID, Name: r.Name, Upstream: up, Observer: gw.routeObserver(r)}
		for _, f := range fs {
			pr.Filters = append(pr.Filters, f.f)
		}
		br := &builtRoute{entry: routeEntry(r, pr), res: g.res[first:len(g.res):len(g.res)]}
		g.routes[r.ID] = br
		rts = append(rts, br.entry)
	}
	rt, err := router.New(rts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", routes.File, err)
	}
	if rt.Conditional() {
		g.table = proxy.NewExchangeTable(func(x *filter.Exchange, path []byte) *proxy.Route {
			vc := matchvars.FromExchange(x)
			vc.URI = path // $uri is the normalised path, as nginx's
			if m := rt.MatchContext(string(x.Req.Method), string(x.Req.Authority), string(path), vc); m != nil {
				return m.Value
			}
			return nil
		})
		return g, nil
	}
	g.table = proxy.NewTable(func(method, host, path []byte) *proxy.Route {
		if m := rt.MatchBytes(method, host, path); m != nil {
			return m.Value
		}
		return nil
	})
	return g, nil
}
