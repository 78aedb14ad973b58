package host

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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

// caller is a plugin's http_call client.
type caller struct {
	once   sync.Once
	client *http.Client
	tokens atomic.Uint32
}

func (c *caller) httpClient() *http.Client {
	c.once.Do(func() {
		c.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second}}
	})
	return c.client
}

// proxy_http_call(upstream, len, headers, len, body, len, trailers, len,
// timeout_ms, *token): the answer goes to proxy_on_http_call_response on
// the calling root context, as in Envoy.
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
	addr, ok := "", false
	if v.p.cfg.Upstreams != nil {
		addr, ok = v.p.cfg.Upstreams(upstream)
	}
	if !ok {
		if !strings.Contains(upstream, ":") {
			return abi.StatusBadArgument
		}
		addr = upstream
	}
	var method, path, authority, scheme string
	h := http.Header{}
	if err := abi.DecodeMap(hdrs, func(k, val []byte) {
		switch string(k) {
		case ":method":
			method = string(val)
		case ":path":
			path = string(val)
		case ":authority":
			authority = string(val)
		case ":scheme":
			scheme = string(val)
		default:
			h.Add(string(k), string(val))
		}
	}); err != nil {
		return abi.StatusParseFailure
	}
	if method == "" || path == "" || authority == "" {
		return abi.StatusBadArgument
	}
	if scheme == "" {
		scheme = "http"
	}
	timeout := time.Duration(uint32(s[8])) * time.Millisecond
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	token := v.p.calls.tokens.Add(1)
	if !v.writeU32(s[9], token) {
		return abi.StatusInvalidMemoryAccess
	}
	reqBody := append([]byte(nil), body...)
	r := v.cur.rootOf()
	p, slot, gen := v.p, v.inst.Slot(), v.inst.Gen
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		resp := p.doCall(scheme, addr, method, path, authority, h, reqBody, timeout)
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

// doCall performs the request; nil means it failed (the plugin then sees
// no headers, as in Envoy).
func (p *Plugin) doCall(scheme, addr, method, path, authority string, h http.Header, body []byte, timeout time.Duration) *callResponse {
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, scheme+"://"+addr+path, bytes.NewReader(body))
	if err != nil {
		p.log.Warn("wasm http_call failed", slog.String("upstream", addr), slog.Any("error", err))
		return nil
	}
	req.Header = h
	req.Host = authority
	resp, err := p.calls.httpClient().Do(req)
	if err != nil {
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
