// Package realip is the built-in real-ip plugin: for a trusted peer it sets
// the client address (filter.Exchange.ClientIP, APISIX's remote_addr) from a
// header or query argument, as APISIX's plugin of the same name. Plugins
// after it (ip-restriction, limit-count keys, wasm plugins), the balancer's
// remote_addr hash and the access log see the new address; the
// X-Forwarded-For the upstream gets was set from the peer before plugins ran.
package realip

import (
	"errors"
	"net"
	"net/netip"
	"strings"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/filter"
)

// Name is the plugin name.
const Name = config.PluginRealIP

// Plugin is one route's real-ip; it holds no per-request state.
type Plugin struct {
	filter.Base
	header, arg string
	trusted     []netip.Prefix
	recursive   bool
}

// New returns the plugin for cfg.
func New(cfg *config.RealIP) (*Plugin, error) {
	if cfg == nil {
		return nil, errors.New("real-ip: nil configuration")
	}
	p := &Plugin{trusted: cfg.TrustedAddresses, recursive: cfg.Recursive}
	if h, ok := strings.CutPrefix(cfg.Source, "http_"); ok {
		p.header = strings.ReplaceAll(h, "_", "-")
	} else {
		p.arg = strings.TrimPrefix(cfg.Source, "arg_")
	}
	return p, nil
}

// Name implements filter.Factory.
func (p *Plugin) Name() string { return Name }

// NewStreamFilter implements filter.Factory.
func (p *Plugin) NewStreamFilter(*filter.Exchange) (filter.StreamFilter, error) { return p, nil }

// Phases implements filter.StreamFilter.
func (p *Plugin) Phases() filter.Phase { return filter.PhaseRequestHeaders }

func (p *Plugin) isTrusted(s string) bool {
	if p.trusted == nil {
		return true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, pf := range p.trusted {
		if pf.Contains(a) {
			return true
		}
	}
	return false
}

// OnRequestHeaders replaces the client address.
func (p *Plugin) OnRequestHeaders(x *filter.Exchange, _ bool) filter.Action {
	if !p.isTrusted(x.ClientIP) {
		return filter.Continue
	}
	var value string
	if p.header != "" {
		var parts []string
		x.Req.Header.Values(p.header, func(v []byte) { parts = append(parts, string(v)) })
		value = strings.Join(parts, ",")
	} else {
		value = queryArg(string(x.Req.Query()), p.arg)
	}
	if value == "" {
		return filter.Continue
	}
	addrs := strings.Split(value, ",")
	pick := strings.TrimSpace(addrs[len(addrs)-1])
	if p.recursive {
		// From the right, the first address that is not trusted.
		for i := len(addrs) - 1; i >= 0; i-- {
			pick = strings.TrimSpace(addrs[i])
			if !p.isTrusted(hostOf(pick)) {
				break
			}
		}
	}
	ip := hostOf(pick)
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return filter.Continue // not an address: keep the peer's, as APISIX
	}
	_, port, _ := net.SplitHostPort(x.Client)
	x.ClientIP = a.String()
	x.Client = net.JoinHostPort(x.ClientIP, port)
	return filter.Continue
}

// hostOf strips a port from "ip:port" or "[ip]:port".
func hostOf(s string) string {
	if h, _, err := net.SplitHostPort(s); err == nil {
		return h
	}
	return strings.Trim(s, "[]")
}

func queryArg(q, name string) string {
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k == name {
			return v
		}
	}
	return ""
}

var (
	_ filter.Factory      = (*Plugin)(nil)
	_ filter.StreamFilter = (*Plugin)(nil)
)
