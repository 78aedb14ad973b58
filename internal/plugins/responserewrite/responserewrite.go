// Package responserewrite is the built-in response-rewrite plugin: it
// changes the status, the headers and the body of the response the client
// gets, as APISIX's plugin of the same name (without vars and filters).
package responserewrite

import (
	"errors"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/filter"
)

// Name is the plugin name.
const Name = config.PluginResponseRewrite

// Plugin is one route's response-rewrite; it holds no per-request state.
type Plugin struct {
	filter.Base
	cfg config.ResponseRewrite
}

// New returns the plugin for cfg.
func New(cfg *config.ResponseRewrite) (*Plugin, error) {
	if cfg == nil {
		return nil, errors.New("response-rewrite: nil configuration")
	}
	return &Plugin{cfg: *cfg}, nil
}

// Name implements filter.Factory.
func (p *Plugin) Name() string { return Name }

// NewStreamFilter implements filter.Factory.
func (p *Plugin) NewStreamFilter(*filter.Exchange) (filter.StreamFilter, error) { return p, nil }

// Phases implements filter.StreamFilter: the body only when it is replaced.
func (p *Plugin) Phases() filter.Phase {
	if p.cfg.HasBody {
		return filter.PhaseResponseHeaders | filter.PhaseResponseBody
	}
	return filter.PhaseResponseHeaders
}

// OnResponseHeaders rewrites the status and headers.
func (p *Plugin) OnResponseHeaders(x *filter.Exchange, _ bool) filter.Action {
	r := &x.Resp
	if p.cfg.StatusCode != 0 {
		r.Status = p.cfg.StatusCode
	}
	for _, h := range p.cfg.Headers.Add {
		r.Header.AddString(h.Name, h.Value)
	}
	for _, h := range p.cfg.Headers.Set {
		r.Header.SetString(h.Name, h.Value)
	}
	for _, name := range p.cfg.Headers.Remove {
		r.Header.Del(name)
	}
	if p.cfg.HasBody {
		r.Header.Del("content-encoding") // the new body is not the upstream's encoding
	}
	return filter.Continue
}

// OnResponseBody drops the upstream's chunks and sends the configured body
// at the end of the stream, so nothing is buffered.
func (p *Plugin) OnResponseBody(_ *filter.Exchange, b *filter.Body, end bool) filter.Action {
	if end {
		b.B = append(b.B[:0], p.cfg.Body...)
	} else {
		b.B = b.B[:0]
	}
	return filter.Continue
}

var (
	_ filter.Factory      = (*Plugin)(nil)
	_ filter.StreamFilter = (*Plugin)(nil)
)
