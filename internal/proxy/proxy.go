package proxy

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/router"
	"github.com/heimdallgw/heimdall/internal/tracectx"
)

// Options configure a Proxy. The zero value is usable: no access log, errors
// discarded, default chain options.
type Options struct {
	// AccessLog receives one Info record per request; nil disables it.
	AccessLog *slog.Logger
	// ErrorLog receives proxy failures (connect errors, timeouts, plugin
	// errors) with the request context nginx logs; nil discards them.
	ErrorLog *slog.Logger
	// Chain tunes the filter chains (plugin body buffer limit, pause timeout).
	Chain filter.Options
	// Observer sees the requests no route matched (metrics); routes carry
	// their own (Route.Observer). nil: none.
	Observer Observer
}

// Proxy forwards requests to the upstream of the route they match. It is
// safe for concurrent use. Engines call NewStream, Serve, read the Stream and
// Close it; see the package documentation.
type Proxy struct {
	opts  Options
	table atomic.Pointer[Table]
	pool  sync.Pool
	// bufPool holds *[]byte body chunk buffers for filtered bodies.
	bufPool sync.Pool
	nextID  atomic.Uint64
	// idPrefix makes generated request ids unique across restarts.
	idPrefix string
}

// New returns a Proxy with no routes: every request answers 404 until
// SetRoutes installs a Table.
func New(opts Options) *Proxy {
	if opts.ErrorLog == nil {
		opts.ErrorLog = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{opts: opts}
	p.idPrefix = strconv.FormatInt(time.Now().UnixNano()&0xffffffffff, 16) + "-"
	p.pool.New = func() any {
		s := &Stream{p: p}
		s.reqPump.s, s.reqPump.req = s, true
		s.resPump.s = s
		return s
	}
	return p
}

// SetRoutes installs t for new requests and returns the table it replaces
// (nil the first time). Requests already running keep the old table; the
// caller retires it with Table.Retire, which waits for them, and then closes
// what the old table owned (plugin factories, upstreams no longer used).
func (p *Proxy) SetRoutes(t *Table) (old *Table) {
	return p.table.Swap(t)
}

// Routes returns the installed table.
func (p *Proxy) Routes() *Table { return p.table.Load() }

// acquireTable returns the current table with a reference held, or nil.
func (p *Proxy) acquireTable() *Table {
	for {
		t := p.table.Load()
		if t == nil {
			return nil
		}
		if t.acquire() {
			return t
		}
		// t drained between Load and acquire: it was replaced; reload.
	}
}

// NewStream returns a pooled Stream for one request. The engine fills
// Stream.X (Req, Client, ClientIP, Local, TLS, optionally Start), sets the
// request body with SetRequestBody and calls Serve.
func (p *Proxy) NewStream() *Stream {
	s := p.pool.Get().(*Stream)
	s.open = true
	return s
}

var errLocalResponse = errors.New("a plugin answered the request")

// Serve handles the request of s up to the response head: on return
// s.X.Resp holds the status, the headers to send (without hop-by-hop fields
// and without content-length) and ContentLength (-1: unknown, send chunked
// or until close). The engine then reads the body from s and closes s.
//
// ctx bounds the waits of the request (paused plugins) and must stay valid
// until Close: engines whose request context ends when their handler returns
// pass a longer-lived one.
func (p *Proxy) Serve(ctx context.Context, s *Stream) {
	defer s.recoverServe()
	s.ctx = ctx
	x := &s.X
	if x.Start.IsZero() {
		x.Start = time.Now()
	}
	x.ID = p.nextID.Add(1)
	x.OrigMethod = append(x.OrigMethod[:0], x.Req.Method...)
	x.OrigPath = append(x.OrigPath[:0], x.Req.Path...)
	if v, ok := x.Req.Header.Get("x-request-id"); ok {
		x.RequestID = string(v)
	} else {
		var b [40]byte
		x.RequestID = string(strconv.AppendUint(append(b[:0], p.idPrefix...), x.ID, 16))
	}

	s.beginObserve() // measures the request as received
	// W3C trace context: pass a valid traceparent through, else start a
	// trace (and drop a tracestate that belonged to an invalid one).
	if v, ok := x.Req.Header.Get(tracectx.Header); !ok || !tracectx.Valid(v) {
		x.Req.Header.SetString(tracectx.Header, tracectx.New())
		x.Req.Header.Del(tracectx.StateHeader)
	}
	s.table = p.acquireTable()
	// Routes match the normalised path (as nginx's $uri); the upstream gets
	// the request-target as sent (see router.NormalizePath).
	raw := x.Req.URLPath()
	path, err := router.NormalizePath(s.norm, raw)
	if err != nil {
		s.respondError(400, nil)
		return
	}
	if len(path) > 0 && len(raw) > 0 && &path[0] != &raw[0] {
		s.norm = path[:0] // keep the grown buffer
	}
	route := s.table.MatchExchange(x, path)
	if route == nil {
		s.respondError(404, nil)
		return
	}
	if s.obs != nil {
		s.obs = route.Observer
	}
	x.RouteID, x.RouteName = route.ID, route.Name
	if route.Upstream != nil {
		x.UpstreamID = route.Upstream.ID
	}
	s.prepareRequest()

	hasBody := s.reqSrc != nil && x.Req.ContentLength != 0
	if len(route.Filters) > 0 {
		c, err := filter.NewChain(x, route.Filters, p.opts.Chain)
		s.chain = c
		if err != nil {
			s.fail(err)
			return
		}
		if err := c.RequestHeaders(ctx, !hasBody); err != nil {
			s.fail(err)
			return
		}
		if lr := x.LocalResponse(); lr != nil {
			s.respondLocal(lr)
			return
		}
	}
	if route.Upstream == nil {
		s.respondError(503, nil)
		return
	}
	s.forward(route.Upstream, hasBody)
}

// hostOnly strips the port from an authority.
func hostOnly(a []byte) []byte {
	if len(a) > 0 && a[0] == '[' {
		if i := bytes.IndexByte(a, ']'); i > 0 {
			return a[1:i]
		}
		return a
	}
	if i := bytes.LastIndexByte(a, ':'); i >= 0 {
		return a[:i]
	}
	return a
}
