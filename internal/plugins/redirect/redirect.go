// Package redirect is the built-in redirect plugin: it answers with a
// redirection (Location) instead of proxying, as APISIX's plugin of the same
// name: to https, to a fixed URI (with $uri / $request_uri), or to a
// regex_uri rewrite of the path.
package redirect

import (
	"errors"
	"net/url"
	"strings"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/filter"
)

// Name is the plugin name.
const Name = config.PluginRedirect

// Plugin is one route's redirect; it holds no per-request state.
type Plugin struct {
	filter.Base
	cfg config.Redirect
}

// New returns the plugin for cfg.
func New(cfg *config.Redirect) (*Plugin, error) {
	if cfg == nil {
		return nil, errors.New("redirect: nil configuration")
	}
	return &Plugin{cfg: *cfg}, nil
}

// Name implements filter.Factory.
func (p *Plugin) Name() string { return Name }

// NewStreamFilter implements filter.Factory.
func (p *Plugin) NewStreamFilter(*filter.Exchange) (filter.StreamFilter, error) { return p, nil }

// Phases implements filter.StreamFilter.
func (p *Plugin) Phases() filter.Phase { return filter.PhaseRequestHeaders }

// OnRequestHeaders answers with the redirection.
func (p *Plugin) OnRequestHeaders(x *filter.Exchange, _ bool) filter.Action {
	_, reqURI := x.RequestLine()
	path := string(x.Req.URLPath())
	query := string(x.Req.Query())
	var loc string
	switch {
	case p.cfg.HTTPToHTTPS:
		if x.TLS {
			return filter.Continue
		}
		host := string(x.Req.Authority)
		if h, _, ok := strings.Cut(host, ":"); ok && !strings.HasPrefix(host, "[") {
			host = h
		}
		loc = "https://" + host + string(reqURI)
	case p.cfg.RegexURI != nil:
		s, ok := p.cfg.RegexURI.Rewrite(path)
		if !ok {
			return filter.Continue
		}
		loc = s
	default:
		loc = strings.NewReplacer("${request_uri}", string(reqURI), "$request_uri", string(reqURI),
			"${uri}", path, "$uri", path).Replace(p.cfg.URI)
	}
	if p.cfg.EncodeURI {
		loc = encode(loc)
	}
	if p.cfg.AppendQueryString && query != "" {
		if strings.Contains(loc, "?") {
			loc += "&" + query
		} else {
			loc += "?" + query
		}
	}
	lr := &filter.LocalResponse{Status: p.cfg.RetCode, Details: "redirect"}
	lr.Header.SetString("Location", loc)
	x.SendLocalResponse(lr)
	return filter.Pause
}

// encode percent-encodes each path segment of loc (its query, if any, is
// kept as is).
func encode(loc string) string {
	path, query, hasQuery := strings.Cut(loc, "?")
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if u, err := url.PathUnescape(s); err == nil {
			s = u
		}
		segs[i] = url.PathEscape(s)
	}
	out := strings.Join(segs, "/")
	if hasQuery {
		out += "?" + query
	}
	return out
}

var (
	_ filter.Factory      = (*Plugin)(nil)
	_ filter.StreamFilter = (*Plugin)(nil)
)
