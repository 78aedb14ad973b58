// Package iprestriction is the built-in ip-restriction plugin: it rejects
// requests whose peer address is outside the whitelist or inside the
// blacklist, as APISIX's plugin of the same name. It checks the address of
// the TCP peer (filter.Exchange.ClientIP), never a forwarded header.
package iprestriction

import (
	"encoding/json"
	"errors"
	"net/netip"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/filter"
)

// Name is the plugin name.
const Name = config.PluginIPRestriction

// Plugin is one route's ip-restriction; it holds no per-request state.
type Plugin struct {
	filter.Base
	allow, deny []netip.Prefix
	code        int
	body        []byte
}

// New returns the plugin for cfg.
func New(cfg *config.IPRestriction) (*Plugin, error) {
	if cfg == nil {
		return nil, errors.New("ip-restriction: nil configuration")
	}
	b, _ := json.Marshal(map[string]string{"message": cfg.Message})
	return &Plugin{allow: cfg.Whitelist, deny: cfg.Blacklist, code: cfg.ResponseCode, body: append(b, '\n')}, nil
}

// Name implements filter.Factory.
func (p *Plugin) Name() string { return Name }

// NewStreamFilter implements filter.Factory.
func (p *Plugin) NewStreamFilter(*filter.Exchange) (filter.StreamFilter, error) { return p, nil }

// Phases implements filter.StreamFilter.
func (p *Plugin) Phases() filter.Phase { return filter.PhaseRequestHeaders }

// Allowed reports whether addr passes.
func (p *Plugin) Allowed(addr netip.Addr) bool {
	addr = addr.Unmap()
	if p.allow != nil {
		return contains(p.allow, addr)
	}
	return !contains(p.deny, addr)
}

func contains(list []netip.Prefix, a netip.Addr) bool {
	for _, pf := range list {
		if pf.Contains(a) {
			return true
		}
	}
	return false
}

// OnRequestHeaders rejects a client that is not allowed.
func (p *Plugin) OnRequestHeaders(x *filter.Exchange, _ bool) filter.Action {
	addr, err := netip.ParseAddr(x.ClientIP)
	if err == nil && p.Allowed(addr) {
		return filter.Continue
	}
	lr := &filter.LocalResponse{Status: p.code, Body: p.body, Details: "ip-restriction: " + x.ClientIP + " not allowed"}
	lr.Header.SetString("Content-Type", "application/json")
	x.SendLocalResponse(lr)
	return filter.Pause
}

var (
	_ filter.Factory      = (*Plugin)(nil)
	_ filter.StreamFilter = (*Plugin)(nil)
)
