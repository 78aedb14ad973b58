// Package limitcount is the built-in limit-count plugin: at most count
// requests per time_window seconds for each key, in fixed windows, as
// APISIX's plugin of the same name with policy local. The counters live in
// the gateway process.
package limitcount

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/httpcore"
)

// Name is the plugin name.
const Name = config.PluginLimitCount

// Header names APISIX sends with show_limit_quota_header.
const (
	HeaderLimit     = "X-RateLimit-Limit"
	HeaderRemaining = "X-RateLimit-Remaining"
	HeaderReset     = "X-RateLimit-Reset"
)

// Plugin is one route's limit-count: a filter.Factory and the counters.
type Plugin struct {
	cfg    config.LimitCount
	window time.Duration
	limit  string // cfg.Count as text
	vars   []keyVar
	now    func() time.Time
	// rejectBody is {"error_msg": rejected_msg}, nil without one.
	rejectBody []byte

	mu       sync.Mutex
	counters map[string]*counter
	sweepAt  time.Time
}

type counter struct {
	end   time.Time // end of the current window
	count int
}

// keyVar is one variable of the key (or literal text, for var_combination).
type keyVar struct {
	literal string
	name    string // without $
}

// New returns the plugin for one route. routeID scopes the counters as
// APISIX scopes them to the route's plugin configuration.
func New(routeID string, cfg *config.LimitCount) (*Plugin, error) {
	if cfg == nil {
		return nil, errors.New("limit-count: nil configuration")
	}
	p := &Plugin{cfg: *cfg, window: time.Duration(cfg.TimeWindow) * time.Second, limit: strconv.Itoa(cfg.Count),
		now: time.Now, counters: make(map[string]*counter)}
	if cfg.RejectedMsg != "" {
		b, _ := json.Marshal(map[string]string{"error_msg": cfg.RejectedMsg})
		p.rejectBody = append(b, '\n')
	}
	switch cfg.KeyType {
	case config.KeyTypeConstant:
	case config.KeyTypeVarCombination:
		p.vars = parseCombination(cfg.Key)
	default:
		p.vars = []keyVar{{name: cfg.Key}}
	}
	for _, v := range p.vars {
		if v.name != "" && !knownVar(v.name) {
			return nil, errors.New("limit-count: key variable $" + v.name + " is not supported; allowed: remote_addr, host, uri, server_addr, http_<header>, arg_<name>, cookie_<name>")
		}
	}
	return p, nil
}

func parseCombination(s string) []keyVar {
	var out []keyVar
	for len(s) > 0 {
		i := strings.IndexByte(s, '$')
		if i < 0 {
			out = append(out, keyVar{literal: s})
			break
		}
		if i > 0 {
			out = append(out, keyVar{literal: s[:i]})
		}
		s = s[i+1:]
		j := 0
		for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
			j++
		}
		if j == 0 {
			out = append(out, keyVar{literal: "$"})
			continue
		}
		out = append(out, keyVar{name: s[:j]})
		s = s[j:]
	}
	return out
}

func knownVar(name string) bool {
	switch name {
	case "remote_addr", "host", "uri", "server_addr":
		return true
	}
	return strings.HasPrefix(name, "http_") || strings.HasPrefix(name, "arg_") || strings.HasPrefix(name, "cookie_")
}

// appendVar appends the value of the nginx variable name.
func appendVar(dst []byte, x *filter.Exchange, name string) []byte {
	switch {
	case name == "remote_addr":
		return append(dst, x.ClientIP...)
	case name == "host":
		h := x.Req.Authority
		if i := strings.LastIndexByte(string(h), ':'); i >= 0 && !strings.Contains(string(h[i:]), "]") {
			h = h[:i]
		}
		return append(dst, h...)
	case name == "uri":
		return append(dst, x.Req.URLPath()...)
	case name == "server_addr":
		if i := strings.LastIndexByte(x.Local, ':'); i >= 0 {
			return append(dst, strings.Trim(x.Local[:i], "[]")...)
		}
		return append(dst, x.Local...)
	case strings.HasPrefix(name, "http_"):
		v, _ := x.Req.Header.Get(headerName(name[5:]))
		return append(dst, v...)
	case strings.HasPrefix(name, "arg_"):
		return append(dst, queryArg(x.Req.Query(), name[4:])...)
	case strings.HasPrefix(name, "cookie_"):
		return append(dst, cookie(&x.Req.Header, name[7:])...)
	}
	return dst
}

// headerName turns nginx's http_x_api_key into x-api-key.
func headerName(s string) string { return strings.ReplaceAll(s, "_", "-") }

func queryArg(q []byte, name string) []byte {
	for len(q) > 0 {
		var kv []byte
		if i := indexByte(q, '&'); i >= 0 {
			kv, q = q[:i], q[i+1:]
		} else {
			kv, q = q, nil
		}
		k, v := kv, []byte(nil)
		if i := indexByte(kv, '='); i >= 0 {
			k, v = kv[:i], kv[i+1:]
		}
		if string(k) == name {
			return v
		}
	}
	return nil
}

func cookie(h *httpcore.Header, name string) []byte {
	var out []byte
	found := false
	h.Values("cookie", func(v []byte) {
		for !found && len(v) > 0 {
			var part []byte
			if i := indexByte(v, ';'); i >= 0 {
				part, v = v[:i], v[i+1:]
			} else {
				part, v = v, nil
			}
			for len(part) > 0 && part[0] == ' ' {
				part = part[1:]
			}
			if i := indexByte(part, '='); i >= 0 && string(part[:i]) == name {
				out, found = part[i+1:], true
			}
		}
	})
	return out
}

func indexByte(b []byte, c byte) int {
	for i := range b {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// Name implements filter.Factory.
func (p *Plugin) Name() string { return Name }

// NewStreamFilter implements filter.Factory: it counts the request and
// either rejects it or returns a filter that adds the quota headers.
func (p *Plugin) NewStreamFilter(*filter.Exchange) (filter.StreamFilter, error) {
	return &stream{p: p}, nil
}

// Close implements io.Closer; the counters go with the plugin.
func (p *Plugin) Close() error { return nil }

type stream struct {
	filter.Base
	p         *Plugin
	remaining int
	reset     int
	counted   bool
	buf       [64]byte
}

func (s *stream) Phases() filter.Phase {
	return filter.PhaseRequestHeaders | filter.PhaseResponseHeaders
}

// take counts one request for key and returns what is left and the seconds
// until the window resets; remaining < 0 means rejected.
func (p *Plugin) take(key []byte) (remaining, reset int) {
	now := p.now()
	p.mu.Lock()
	c := p.counters[string(key)]
	if c == nil || !now.Before(c.end) {
		if c == nil {
			if len(p.counters) >= 4096 && now.After(p.sweepAt) {
				p.sweep(now)
			}
			c = &counter{}
			p.counters[string(key)] = c
		}
		c.end, c.count = now.Add(p.window), 0
	}
	c.count++
	remaining = p.cfg.Count - c.count
	end := c.end
	p.mu.Unlock()
	reset = int((end.Sub(now) + time.Second - 1) / time.Second)
	return remaining, reset
}

// sweep drops expired counters; called with mu held, at most once a window.
func (p *Plugin) sweep(now time.Time) {
	for k, c := range p.counters {
		if !now.Before(c.end) {
			delete(p.counters, k)
		}
	}
	p.sweepAt = now.Add(p.window)
}

func (s *stream) OnRequestHeaders(x *filter.Exchange, _ bool) filter.Action {
	p := s.p
	key := s.buf[:0]
	for _, v := range p.vars {
		if v.name != "" {
			key = appendVar(key, x, v.name)
		} else {
			key = append(key, v.literal...)
		}
	}
	if len(key) == 0 && p.cfg.KeyType != config.KeyTypeConstant {
		// APISIX falls back to the client address when the key is empty.
		key = append(key, x.ClientIP...)
	}
	remaining, reset := p.take(key)
	if remaining < 0 {
		lr := &filter.LocalResponse{Status: p.cfg.RejectedCode, Details: "limit-count: rejected"}
		if p.cfg.ShowLimitQuotaHeader {
			lr.Header.SetString(HeaderLimit, p.limit)
			lr.Header.SetString(HeaderRemaining, "0")
			lr.Header.SetString(HeaderReset, strconv.Itoa(reset))
		}
		if p.rejectBody != nil {
			lr.Header.SetString("Content-Type", "application/json")
			lr.Body = p.rejectBody
		}
		x.SendLocalResponse(lr)
		return filter.Pause
	}
	s.remaining, s.reset, s.counted = remaining, reset, true
	return filter.Continue
}

func (s *stream) OnResponseHeaders(x *filter.Exchange, _ bool) filter.Action {
	if s.counted && s.p.cfg.ShowLimitQuotaHeader {
		h := &x.Resp.Header
		h.SetString(HeaderLimit, s.p.limit)
		h.SetString(HeaderRemaining, strconv.Itoa(s.remaining))
		h.SetString(HeaderReset, strconv.Itoa(s.reset))
	}
	return filter.Continue
}

var (
	_ filter.Factory      = (*Plugin)(nil)
	_ filter.StreamFilter = (*stream)(nil)
)
