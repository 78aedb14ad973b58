// Package plugins is the table of built-in plugins (implemented in Go): each
// one's APISIX name, priority and phase, and how the gateway builds its
// filter.Factory from a route's decoded configuration. Configuration
// decoding and validation stay in internal/config, beside the rest of the
// file, so errors carry the same file:line:col or etcd key.
package plugins

import (
	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/plugins/cors"
	"github.com/heimdallgw/heimdall/internal/plugins/iprestriction"
	"github.com/heimdallgw/heimdall/internal/plugins/limitcount"
	"github.com/heimdallgw/heimdall/internal/plugins/proxyrewrite"
	"github.com/heimdallgw/heimdall/internal/plugins/realip"
	"github.com/heimdallgw/heimdall/internal/plugins/redirect"
	"github.com/heimdallgw/heimdall/internal/plugins/responserewrite"
)

// Builtin describes one built-in plugin.
type Builtin struct {
	Name string
	// Priority and Phase are APISIX's: the gateway orders built-in and wasm
	// plugins together, rewrite phase first, higher priority first.
	Priority int
	Phase    config.Phase
	// New returns the route's filter, or nil when the route does not use
	// the plugin.
	New func(r *config.Route) (filter.Factory, error)
}

// Builtins is the table, in APISIX priority order.
var Builtins = []Builtin{
	{Name: config.PluginRealIP, Priority: 23000, Phase: config.PhaseRewrite, New: func(r *config.Route) (filter.Factory, error) {
		if r.RealIP == nil {
			return nil, nil
		}
		return realip.New(r.RealIP)
	}},
	{Name: config.PluginCORS, Priority: 4000, Phase: config.PhaseRewrite, New: func(r *config.Route) (filter.Factory, error) {
		if r.CORS == nil {
			return nil, nil
		}
		return cors.New(r.CORS)
	}},
	{Name: config.PluginIPRestriction, Priority: 3000, Phase: config.PhaseAccess, New: func(r *config.Route) (filter.Factory, error) {
		if r.IPRestriction == nil {
			return nil, nil
		}
		return iprestriction.New(r.IPRestriction)
	}},
	{Name: config.PluginProxyRewrite, Priority: 1008, Phase: config.PhaseRewrite, New: func(r *config.Route) (filter.Factory, error) {
		if r.ProxyRewrite == nil {
			return nil, nil
		}
		return proxyrewrite.New(r.ProxyRewrite)
	}},
	{Name: config.PluginLimitCount, Priority: 1002, Phase: config.PhaseAccess, New: func(r *config.Route) (filter.Factory, error) {
		if r.LimitCount == nil {
			return nil, nil
		}
		return limitcount.New(r.ID, r.LimitCount)
	}},
	{Name: config.PluginRedirect, Priority: 900, Phase: config.PhaseRewrite, New: func(r *config.Route) (filter.Factory, error) {
		if r.Redirect == nil {
			return nil, nil
		}
		return redirect.New(r.Redirect)
	}},
	{Name: config.PluginResponseRewrite, Priority: 899, Phase: config.PhaseAccess, New: func(r *config.Route) (filter.Factory, error) {
		if r.ResponseRewrite == nil {
			return nil, nil
		}
		return responserewrite.New(r.ResponseRewrite)
	}},
}
