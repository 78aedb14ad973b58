// Package proxyrewrite is the built-in proxy-rewrite plugin: it rewrites the
// request the upstream receives (path, host, method, headers) as APISIX's
// plugin of the same name does.
package proxyrewrite

import (
	"bytes"
	"errors"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/filter"
)

// Name is the plugin name.
const Name = config.PluginProxyRewrite

// Plugin is a filter.Factory for one route's proxy-rewrite configuration. It
// holds no per-request state: the same filter serves every request.
type Plugin struct {
	filter.Base
	uri      []byte
	regex    []config.RegexURI
	host     []byte
	method   []byte
	add, set []config.Header
	remove   []string
}

// New returns the plugin for cfg.
func New(cfg *config.ProxyRewrite) (*Plugin, error) {
	if cfg == nil {
		return nil, errors.New("proxy-rewrite: nil configuration")
	}
	p := &Plugin{regex: cfg.RegexURI, add: cfg.Headers.Add, remove: cfg.Headers.Remove}
	if cfg.URI != "" {
		p.uri = []byte(cfg.URI)
	}
	if cfg.Host != "" {
		p.host = []byte(cfg.Host)
	}
	if cfg.Method != "" {
		p.method = bytes.ToUpper([]byte(cfg.Method))
	}
	for _, h := range cfg.Headers.Set {
		if h.Value == "" {
			// The old map form removes a header with an empty value.
			p.remove = append(p.remove, h.Name)
			continue
		}
		p.set = append(p.set, h)
	}
	return p, nil
}

// Name implements filter.Factory.
func (p *Plugin) Name() string { return Name }

// NewStreamFilter implements filter.Factory.
func (p *Plugin) NewStreamFilter(*filter.Exchange) (filter.StreamFilter, error) { return p, nil }

// Phases implements filter.StreamFilter: request headers only, so bodies
// stream untouched.
func (p *Plugin) Phases() filter.Phase { return filter.PhaseRequestHeaders }

// OnRequestHeaders rewrites the request.
func (p *Plugin) OnRequestHeaders(x *filter.Exchange, _ bool) filter.Action {
	r := &x.Req
	if p.uri != nil || len(p.regex) > 0 {
		path := r.URLPath()
		newPath, ok := []byte(nil), false
		if p.uri != nil {
			newPath, ok = p.uri, true
		} else {
			for _, re := range p.regex {
				if s, matched := re.Rewrite(string(path)); matched {
					newPath, ok = []byte(s), true
					break
				}
			}
		}
		if ok {
			// The original query string is kept, as APISIX does.
			q := r.Query()
			buf := make([]byte, 0, len(newPath)+1+len(q))
			buf = append(buf, newPath...)
			if len(q) > 0 {
				if bytes.IndexByte(newPath, '?') >= 0 {
					buf = append(buf, '&')
				} else {
					buf = append(buf, '?')
				}
				buf = append(buf, q...)
			}
			r.SetPath(buf)
		}
	}
	if p.host != nil {
		r.SetAuthority(p.host)
	}
	if p.method != nil {
		r.SetMethod(p.method)
	}
	for _, h := range p.add {
		r.Header.AddString(h.Name, h.Value)
	}
	for _, h := range p.set {
		r.Header.SetString(h.Name, h.Value)
	}
	for _, name := range p.remove {
		r.Header.Del(name)
	}
	return filter.Continue
}

var (
	_ filter.Factory      = (*Plugin)(nil)
	_ filter.StreamFilter = (*Plugin)(nil)
)
