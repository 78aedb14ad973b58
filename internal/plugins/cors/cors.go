// Package cors is the built-in cors plugin: it answers preflight (OPTIONS)
// requests itself and adds the Access-Control-* headers to responses for
// allowed origins, as APISIX's plugin of the same name.
package cors

import (
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/httpcore"
)

// Name is the plugin name.
const Name = config.PluginCORS

// allMethods is what allow_methods "**" sends, as APISIX.
const allMethods = "GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS,CONNECT,TRACE"

// Plugin is one route's cors; it holds no per-request state.
type Plugin struct {
	filter.Base
	anyOrigin, echoOrigin bool
	origins               map[string]bool
	regex                 []*regexp.Regexp
	methods, headers      string
	echoHeaders           bool
	expose, maxAge        string
	credential            bool
}

// New returns the plugin for cfg.
func New(cfg *config.CORS) (*Plugin, error) {
	if cfg == nil {
		return nil, errors.New("cors: nil configuration")
	}
	p := &Plugin{regex: cfg.AllowOriginsByRegex, methods: cfg.AllowMethods, headers: cfg.AllowHeaders,
		expose: cfg.ExposeHeaders, maxAge: strconv.Itoa(cfg.MaxAge), credential: cfg.AllowCredential}
	switch cfg.AllowOrigins {
	case "*":
		p.anyOrigin = true
	case "**":
		p.echoOrigin = true
	default:
		p.origins = map[string]bool{}
		for _, o := range strings.Split(cfg.AllowOrigins, ",") {
			p.origins[strings.TrimSpace(o)] = true
		}
	}
	if p.methods == "**" {
		p.methods = allMethods
	}
	if p.headers == "**" {
		p.echoHeaders = true
	}
	return p, nil
}

// Name implements filter.Factory.
func (p *Plugin) Name() string { return Name }

// NewStreamFilter implements filter.Factory.
func (p *Plugin) NewStreamFilter(*filter.Exchange) (filter.StreamFilter, error) { return p, nil }

// Phases implements filter.StreamFilter.
func (p *Plugin) Phases() filter.Phase {
	return filter.PhaseRequestHeaders | filter.PhaseResponseHeaders
}

// OnRequestHeaders answers a preflight request with 200 and the headers.
func (p *Plugin) OnRequestHeaders(x *filter.Exchange, _ bool) filter.Action {
	if string(x.Req.Method) != "OPTIONS" {
		return filter.Continue
	}
	lr := &filter.LocalResponse{Status: 200, Details: "cors: preflight"}
	p.apply(x, &lr.Header)
	x.SendLocalResponse(lr)
	return filter.Pause
}

// OnResponseHeaders adds the headers to the upstream's response.
func (p *Plugin) OnResponseHeaders(x *filter.Exchange, _ bool) filter.Action {
	p.apply(x, &x.Resp.Header)
	return filter.Continue
}

// apply sets the CORS headers on h when the request's origin is allowed.
func (p *Plugin) apply(x *filter.Exchange, h *httpcore.Header) {
	origin, _ := x.Req.Header.Get("origin")
	var allow string
	switch {
	case p.anyOrigin:
		allow = "*"
	case len(origin) == 0:
		return
	case p.echoOrigin || p.origins[string(origin)] || p.matchRegex(origin):
		allow = string(origin)
	default:
		return
	}
	h.SetString("Access-Control-Allow-Origin", allow)
	if allow != "*" {
		h.SetString("Vary", "Origin")
	}
	h.SetString("Access-Control-Allow-Methods", p.methods)
	headers := p.headers
	if p.echoHeaders {
		v, _ := x.Req.Header.Get("access-control-request-headers")
		headers = string(v)
	}
	if headers != "" {
		h.SetString("Access-Control-Allow-Headers", headers)
	}
	h.SetString("Access-Control-Max-Age", p.maxAge)
	if p.expose != "" {
		h.SetString("Access-Control-Expose-Headers", p.expose)
	}
	if p.credential {
		h.SetString("Access-Control-Allow-Credentials", "true")
	}
}

func (p *Plugin) matchRegex(origin []byte) bool {
	for _, re := range p.regex {
		if re.Match(origin) {
			return true
		}
	}
	return false
}

var (
	_ filter.Factory      = (*Plugin)(nil)
	_ filter.StreamFilter = (*Plugin)(nil)
)
