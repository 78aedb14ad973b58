package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/plugins/proxyrewrite"
	"github.com/heimdallgw/heimdall/internal/proxy"
	"github.com/heimdallgw/heimdall/internal/router"
)

// proxyRewritePriority is APISIX's priority of proxy-rewrite.
const proxyRewritePriority = 1008

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

func factoryKey(plugin, route, conf string) string {
	return "plugin\x00" + plugin + "\x00" + route + "\x00" + conf
}

// configure creates, concurrently, the plugin configurations routes need
// that no generation has yet, so one plugin's slow on_configure (network
// I/O, for example) does not add up with every other one. The results are
// returned by key; the caller acquires them.
func (gw *Gateway) configure(ctx context.Context, routes *config.Routes) (map[string]io.Closer, error) {
	type job struct {
		key, where string
		w          config.RouteWasm
		route      string
		c          io.Closer
		err        error
	}
	var jobs []*job
	seen := make(map[string]bool)
	for _, r := range routes.Routes {
		if !r.Enabled {
			continue
		}
		for _, w := range r.Wasm {
			key := factoryKey(w.Name, r.ID, w.Conf)
			if _, live := gw.live[key]; live || seen[key] {
				continue
			}
			seen[key] = true
			jobs = append(jobs, &job{
				key: key, w: w, route: r.ID,
				where: fmt.Sprintf("%s:%d:%d: route %s: plugin %s", routes.File, r.Line, r.Column, r.ID, w.Name),
			})
		}
	}
	var wg sync.WaitGroup
	for _, j := range jobs {
		p, ok := gw.plugins[j.w.Name]
		if !ok {
			j.err = errors.New("not loaded (declared in config.yaml? config.yaml changes need a restart)")
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := p.NewFactory(ctx, j.route, []byte(j.w.Conf))
			if err == nil {
				j.c = f
			}
			j.err = err
		}()
	}
	wg.Wait()
	out := make(map[string]io.Closer, len(jobs))
	var errs []error
	for _, j := range jobs {
		if j.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", j.where, j.err))
			continue
		}
		out[j.key] = j.c
	}
	if len(errs) > 0 {
		for _, c := range out {
			c.Close()
		}
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// build compiles routes into a generation, reusing the plugin
// configurations and upstreams of live generations where they are
// unchanged. The caller holds gw.mu. On error nothing stays acquired and the
// error names the route (file:line) and the plugin.
func (gw *Gateway) build(ctx context.Context, routes *config.Routes, version uint64) (_ *generation, err error) {
	fresh, err := gw.configure(ctx, routes)
	if err != nil {
		return nil, err
	}
	g := &generation{version: version}
	defer func() {
		if err != nil {
			gw.release(g)
		}
		for _, c := range fresh { // configured but not used after an error
			c.Close()
		}
	}()

	var rts []router.Route[*proxy.Route]
	for _, r := range routes.Routes {
		if !r.Enabled {
			continue
		}
		where := fmt.Sprintf("%s:%d:%d: route %s", routes.File, r.Line, r.Column, r.ID)
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
		if r.ProxyRewrite != nil {
			f, err := proxyrewrite.New(r.ProxyRewrite)
			if err != nil {
				return nil, fmt.Errorf("%s: plugin proxy-rewrite: %w", where, err)
			}
			fs = append(fs, orderedFilter{config.PhaseRewrite, proxyRewritePriority, f})
		}
		for _, w := range r.Wasm {
			key := factoryKey(w.Name, r.ID, w.Conf)
			c, err := gw.acquire(g, key, func() (io.Closer, error) {
				c := fresh[key]
				delete(fresh, key)
				return c, nil
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
		pr := &proxy.Route{ID: r.ID, Name: r.Name, Upstream: up}
		for _, f := range fs {
			pr.Filters = append(pr.Filters, f.f)
		}
		rts = append(rts, router.Route[*proxy.Route]{
			ID: r.ID, URIs: r.URIs, Hosts: r.Hosts, Methods: r.Methods, Priority: r.Priority, Value: pr,
		})
	}
	rt, err := router.New(rts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", routes.File, err)
	}
	g.table = proxy.NewTable(func(method, host, path []byte) *proxy.Route {
		if m := rt.MatchBytes(method, host, path); m != nil {
			return m.Value
		}
		return nil
	})
	return g, nil
}
