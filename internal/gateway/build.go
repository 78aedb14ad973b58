package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/plugins/proxyrewrite"
	"github.com/heimdallgw/heimdall/internal/proxy"
	"github.com/heimdallgw/heimdall/internal/router"
)

// proxyRewritePriority is APISIX's priority of proxy-rewrite.
const proxyRewritePriority = 1008

// generation is everything built from one apisix.yaml: the route table and
// the resources it owns, closed once the table has drained.
type generation struct {
	version uint64
	table   *proxy.Table
	closers []io.Closer
}

// close releases the generation's plugin configurations and upstream pools.
func (g *generation) close() error {
	var errs []error
	for i := len(g.closers) - 1; i >= 0; i-- {
		if err := g.closers[i].Close(); err != nil {
			errs = append(errs, err)
		}
	}
	g.closers = nil
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

// build compiles routes into a generation. On error everything it created
// is released and the error names the route (file:line) and the plugin.
func (gw *Gateway) build(ctx context.Context, routes *config.Routes, version uint64) (gen *generation, err error) {
	// The error returns below set gen to nil before this deferred call
	// runs, so it closes g, not gen.
	g := &generation{version: version}
	gen = g
	defer func() {
		if err != nil {
			g.close()
			gen = nil
		}
	}()

	upstreams := make(map[*config.Upstream]*proxy.Upstream)
	upstreamOf := func(cu *config.Upstream) (*proxy.Upstream, error) {
		if cu == nil {
			return nil, nil
		}
		if u, ok := upstreams[cu]; ok {
			return u, nil
		}
		u, err := proxy.NewUpstream(cu, proxy.UpstreamOptions{})
		if err != nil {
			return nil, err
		}
		upstreams[cu] = u
		gen.closers = append(gen.closers, u)
		return u, nil
	}

	var rts []router.Route[*proxy.Route]
	for _, r := range routes.Routes {
		if !r.Enabled {
			continue
		}
		where := fmt.Sprintf("%s:%d:%d: route %s", routes.File, r.Line, r.Column, r.ID)
		up, err := upstreamOf(r.Upstream)
		if err != nil {
			return nil, fmt.Errorf("%s: upstream: %w", where, err)
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
			p, ok := gw.plugins[w.Name]
			if !ok {
				return nil, fmt.Errorf("%s: plugin %s: not loaded (declared in config.yaml? config.yaml changes need a restart)", where, w.Name)
			}
			f, err := p.NewFactory(ctx, r.ID, []byte(w.Conf))
			if err != nil {
				return nil, fmt.Errorf("%s: plugin %s: %w", where, w.Name, err)
			}
			gen.closers = append(gen.closers, f)
			fs = append(fs, orderedFilter{w.Plugin.Phase, w.Plugin.Priority, f})
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
	gen.table = proxy.NewTable(func(method, host, path []byte) *proxy.Route {
		if m := rt.MatchBytes(method, host, path); m != nil {
			return m.Value
		}
		return nil
	})
	return gen, nil
}
