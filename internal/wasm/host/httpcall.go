package host

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heimdallgw/heimdall/internal/egress"
	"github.com/heimdallgw/heimdall/internal/httpcore"
	"github.com/heimdallgw/heimdall/internal/wasm/abi"
)

// callResponse is an http_call answer while proxy_on_http_call_response runs.
type callResponse struct {
	header, trailer httpcore.Header
	body            []byte
}

// maxCallBody caps an http_call answer body.
const maxCallBody = 16 << 20

// DefaultMaxPendingHTTPCalls bounds a plugin's proxy_http_calls waiting
// for their answer when PluginConfig.MaxPendingHTTPCalls is 0.
const DefaultMaxPendingHTTPCalls = 1024

// caller is a plugin's http_call client: one http.Client for named
// upstreams (the operator's: dialled as configured) and one for literal
// host:port destinations (every dial through the plugin's egress policy).
// Two transports, so a connection opened for one never serves the other.
// Neither follows redirects (a 3xx goes back to the plugin, as in Envoy) nor
// uses a proxy from the environment.
type caller struct {
	once           sync.Once
	named, literal *http.Client
	tokens         atomic.Uint32
	pending        atomic.Int64
	limited        atomic.Bool // a call was refused since the last accepted one
	overLimit      atomic.Uint64
}

func (p *Plugin) httpClients() (named, literal *http.Client) {
	c := &p.calls
	c.once.Do(func() {
		noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		var d net.Dialer
		c.named = &http.Client{CheckRedirect: noRedirect, Transport: &http.Transport{
			Proxy: nil, DialContext: d.DialContext,
			MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second,
		}}
		eg := p.egress
		c.literal = &http.Client{CheckRedirect: noRedirect, Transport: &http.Transport{
			Proxy: nil,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return eg.Dial(ctx, egress.OpHTTPCall, network, addr)
			},
			MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second,
		}}
	})
	return c.named, c.literal
}

// closeIdleCalls closes the idle connections of both clients (when the
// plugin closes: a pooled connection must not outlive it). Creating the
// clients here if no call made them costs two structs, no connection.
func (p *Plugin) closeIdleCalls() {
	named, literal := p.httpClients()
	named.CloseIdleConnections()
	literal.CloseIdleConnections()
}

// errUnknownUpstream: neither an upstream name nor host:port.
var errUnknownUpstream = errors.New("unknown upstream")

// target is where a call from the plugin goes.
type target struct {
	addr  string // host:port: the named upstream's node, or the literal
	named bool   // an apisix.yaml upstream id
	host  string
	port  int
}

// target resolves an upstream argument (proxy_http_call, proxy_redis_init)
// and checks it against the plugin's egress policy without any I/O: a
// named upstream (PluginConfig.Upstreams) must be among network.upstreams
// when that list is given; anything else must be a literal host:port that
// network.allow may allow (an IP is checked here; a name needs dns: true and
// is checked after resolution, when dialled). A refusal wraps
// egress.ErrRefused and is logged and counted by the policy.
func (p *Plugin) target(op, upstream string) (target, error) {
	if p.cfg.Upstreams != nil {
		if addr, ok := p.cfg.Upstreams(upstream); ok {
			if err := p.egress.Upstream(op, upstream); err != nil {
				return target{}, err
			}
			host, ps, _ := net.SplitHostPort(addr)
			port, _ := strconv.Atoi(ps)
			return target{addr: addr, named: true, host: host, port: port}, nil
		}
	}
	host, ps, err := net.SplitHostPort(upstream)
	if err != nil || host == "" {
		return target{}, errUnknownUpstream
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 {
		return target{}, errUnknownUpstream
	}
	if err := p.egress.Precheck(op, host, port); err != nil {
		return target{}, err
	}
	return target{addr: upstream, host: host, port: port}, nil
}

// proxy_http_call(upstream, len, headers, len, body, len, trailers, len,
// timeout_ms, *token): the answer goes to proxy_on_http_call_response on
// the calling root context, as in Envoy. Unknown upstream, a destination
// the egress policy refuses, a missing :method, :path or :authority, a
// :path that is not an absolute path or a :scheme other than http/https →
// BadArgument (Envoy's answer for an unknown cluster); an empty :authority
// is the upstream's host:port. More than MaxPendingHTTPCalls waiting →
// InternalFailure (Envoy's answer when it cannot start the request).
func hHTTPCall(v *vm, s []uint64) abi.Status {
	upstream, ok1 := v.readString(s[0], s[1])
	hdrs, ok2 := v.read(s[2], s[3])
	body, ok3 := v.read(s[4], s[5])
	if !ok1 || !ok2 || !ok3 {
		return abi.StatusInvalidMemoryAccess
	}
	if _, ok := v.read(s[9], 4); !ok {
		return abi.StatusInvalidMemoryAccess
	}
	if v.cur == nil {
		return abi.StatusBadArgument
	}
	var method, path, authority, scheme string
	hasAuthority := false
	h := http.Header{}
	if err := abi.DecodeMap(hdrs, func(k, val []byte) {
		switch string(k) {
		case ":method":
			method = string(val)
		case ":path":
			path = string(val)
		case ":authority":
			authority, hasAuthority = string(val), true
		case ":scheme":
			scheme = string(val)
		default:
			h.Add(string(k), string(val))
		}
	}); err != nil {
		return abi.StatusParseFailure
	}
	if method == "" || path == "" || !hasAuthority {
		return abi.StatusBadArgument
	}
	p := v.p
	tg, err := p.target(egress.OpHTTPCall, upstream)
	if err != nil {
		return abi.StatusBadArgument
	}
	u, ok := callURL(scheme, tg.addr, path)
	if !ok {
		return abi.StatusBadArgument
	}
	timeout := time.Duration(uint32(s[8])) * time.Millisecond
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if p.calls.pending.Add(1) > int64(p.maxPending) {
		p.calls.pending.Add(-1)
		p.calls.overLimit.Add(1)
		p.callLimited(upstream)
		return abi.StatusInternalFailure
	}
	if p.calls.limited.Load() {
		p.calls.limited.Store(false)
	}
	token := p.calls.tokens.Add(1)
	if !v.writeU32(s[9], token) {
		p.calls.pending.Add(-1)
		return abi.StatusInvalidMemoryAccess
	}
	reqBody := append([]byte(nil), body...)
	r := v.cur.rootOf()
	slot, gen := v.inst.Slot(), v.inst.Gen
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		resp := p.doCall(u, tg, method, authority, h, reqBody, timeout)
		p.calls.pending.Add(-1)
		p.onInstance(slot, gen, func(v *vm) {
			if r.deleted || !v.fn.onHTTPCallResp.Valid() {
				return
			}
			v.callResp = resp
			nh, nt, nb := 0, 0, 0
			if resp != nil {
				nh, nt, nb = resp.header.Len(), resp.trailer.Len(), len(resp.body)
			}
			err := v.callCtx(v.fn.onHTTPCallResp, r, uint64(r.id), uint64(token), uint64(nh), uint64(nb), uint64(nt))
			v.callResp = nil
			if err != nil {
				v.trapped(r, "proxy_on_http_call_response", err)
			}
		})
	}()
	return abi.StatusOK
}

// callURL is the URL of a call to addr: the plugin's :path (an absolute
// path with an optional query) never changes the destination — a path such
// as "@169.254.169.254/" or "//host/" is not read as an authority.
func callURL(scheme, addr, path string) (*url.URL, bool) {
	switch scheme {
	case "":
		scheme = "http"
	case "http", "https":
	default:
		return nil, false
	}
	if !strings.HasPrefix(path, "/") {
		return nil, false
	}
	u, err := url.ParseRequestURI(path)
	if err != nil || u.Host != "" || u.User != nil {
		return nil, false
	}
	u.Scheme, u.Host = scheme, addr
	return u, true
}

// callLimited logs that the pending-call limit refused a call, once per
// burst (the first refusal after a call was accepted again).
func (p *Plugin) callLimited(upstream string) {
	if p.calls.limited.CompareAndSwap(false, true) {
		p.log.Warn("wasm http_call refused: too many pending calls",
			slog.String("upstream", upstream), slog.Int("max_pending_http_calls", p.maxPending))
	}
}

// doCall performs the request; nil means it failed (the plugin then sees
// no headers, as in Envoy).
func (p *Plugin) doCall(u *url.URL, tg target, method, authority string, h http.Header, body []byte, timeout time.Duration) *callResponse {
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	addr := tg.addr
	named, literal := p.httpClients()
	client := literal
	if tg.named {
		client = named
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		p.log.Warn("wasm http_call failed", slog.String("upstream", addr), slog.Any("error", err))
		return nil
	}
	req.URL = u // exactly the checked destination, not a re-parse
	req.Header = h
	req.Host = authority // "" = the URL's host:port
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, egress.ErrRefused) {
			return nil // logged and counted by the policy
		}
		p.log.Warn("wasm http_call failed", slog.String("upstream", addr), slog.Any("error", err))
		return nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxCallBody))
	if err != nil {
		p.log.Warn("wasm http_call failed", slog.String("upstream", addr), slog.Any("error", err))
		return nil
	}
	cr := &callResponse{body: b}
	cr.header.AddString(":status", strconv.Itoa(resp.StatusCode))
	for k, vs := range resp.Header {
		for _, val := range vs {
			cr.header.AddString(k, val)
		}
	}
	for k, vs := range resp.Trailer {
		for _, val := range vs {
			cr.trailer.AddString(k, val)
		}
	}
	return cr
}

// lineWriter sends a guest's stdout/stderr to the log, one record a line.
type lineWriter struct {
	mu     sync.Mutex
	ctx    context.Context
	log    *slog.Logger
	stream string
	level  slog.Level
	buf    []byte
}

func newLineWriter(ctx context.Context, l *slog.Logger, stream string, level slog.Level) *lineWriter {
	return &lineWriter{ctx: ctx, log: l, stream: stream, level: level}
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.log.Log(w.ctx, w.level, string(w.buf[:i]), slog.String("stream", w.stream))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 4096 {
		w.log.Log(w.ctx, w.level, string(w.buf), slog.String("stream", w.stream))
		w.buf = w.buf[:0]
	}
	return len(b), nil
}
