package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/heimdallgw/heimdall/internal/accesslog"
	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/httpcore"
	"github.com/heimdallgw/heimdall/internal/router"
)

// Stream is one request going through the proxy. It is created by
// Proxy.NewStream, filled by the engine, run by Proxy.Serve, read by the
// engine for the response body and ended by Close. A Stream is used by one
// goroutine at a time.
type Stream struct {
	// X is the exchange the filters see. The engine fills X.Req, X.Client,
	// X.ClientIP, X.Local, X.TLS (and may set X.Start) before Serve.
	X filter.Exchange

	p     *Proxy
	ctx   context.Context
	table *Table
	chain *filter.Chain
	open  bool

	reqSrc  io.Reader
	reqPump pump
	resPump pump

	up     fasthttp.Request
	upResp fasthttp.Response
	// upBody is the upstream response body stream while open.
	upBody io.Reader
	// upNode is the node whose connection upBody holds.
	upNode *Node

	local bytes.Reader

	tried   []bool
	scratch []byte
	// norm holds the normalised path of a request whose path needed it.
	norm    []byte
	upHTTPS bool

	// for the logs
	bytesSent int64
	failure   error

	// for the Observer (observe.go); obs nil means none.
	obs     Observer
	obsv    Observation
	reqHead int64
	upStart time.Time
}

// SetRequestBody sets the downstream request body; nil or a zero
// X.Req.ContentLength mean no body. Read errors of r that are
// *filter.StatusError (e.g. 413 from a size limit) answer with their status.
// A body that can carry trailers implements TrailerBody.
func (s *Stream) SetRequestBody(r io.Reader) { s.reqSrc = r }

// TrailerBody is implemented by request bodies that can end with trailers
// (HTTP/1.1 chunked, HTTP/2). Once Read returned io.EOF the proxy calls
// AppendTrailers, which adds the trailers that arrived to h.
type TrailerBody interface {
	AppendTrailers(h *httpcore.Header)
}

// ResponseTrailers returns the response trailers, valid once Read returned
// io.EOF.
func (s *Stream) ResponseTrailers() *httpcore.Header { return &s.X.Resp.Trailer }

// Read reads the response body after Serve. An error other than io.EOF
// after the head was sent means the engine must abort the stream (reset the
// HTTP/2 stream, close the HTTP/1.1 connection) so the client sees an
// incomplete response.
func (s *Stream) Read(p []byte) (n int, err error) {
	defer s.recoverRead(&err)
	s.X.ResponseStarted = true
	n, err = s.resPump.Read(p)
	s.bytesSent += int64(n)
	if err != nil && err != io.EOF {
		if s.failure == nil {
			s.failure = err
			s.logFailure("upstream response body failed", err)
		}
		return n, err
	}
	return n, err
}

// WriteTo implements io.WriterTo, which fasthttp prefers for a response
// body stream: the body then goes out in chunks of up to 32 KiB, each
// written past the connection's 4 KiB write buffer in one write(2), instead
// of being copied through that buffer 4 KiB at a time (a 64 KiB response
// took 16 write calls).
func (s *Stream) WriteTo(w io.Writer) (int64, error) {
	bp, _ := s.p.bufPool.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, bodyBufSize)
		bp = &b
	}
	defer s.p.bufPool.Put(bp)
	var total int64
	for {
		n, err := s.Read(*bp)
		if n > 0 {
			m, werr := w.Write((*bp)[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Close ends the stream: it releases the upstream connection, runs the log
// and done callbacks, writes the access log line and returns s to the pool.
// It must be called exactly once, also when the engine could not send the
// response.
func (s *Stream) Close() error {
	if !s.open {
		return nil
	}
	s.open = false
	s.closeUpstream()
	if s.chain != nil {
		s.chain.Log()
	}
	s.accessLog()
	if s.obs != nil {
		s.observe()
	}
	if s.chain != nil {
		s.chain.Done()
		s.chain = nil
	}
	if s.table != nil {
		s.table.release()
		s.table = nil
	}
	s.reset()
	s.p.pool.Put(s)
	return nil
}

func (s *Stream) reset() {
	s.X.Reset()
	s.ctx = nil
	s.reqSrc = nil
	s.reqPump.reset()
	s.resPump.reset()
	s.up.Reset()
	s.upResp.Reset()
	s.local.Reset(nil)
	clear(s.tried)
	s.scratch = s.scratch[:0]
	s.bytesSent = 0
	s.failure = nil
	s.upHTTPS = false
	s.obs, s.reqHead, s.upStart = nil, 0, time.Time{}
}

// prepareRequest strips hop-by-hop fields and adds the X-Forwarded-* and
// X-Real-IP fields, before any filter sees the request.
func (s *Stream) prepareRequest() {
	x := &s.X
	h := &x.Req.Header
	httpcore.RemoveHopByHop(h)
	// Usually the client sent none of the fields set here: then they are
	// appended, without a lookup (and a rebuild of the field list) each.
	fresh := true
	for _, f := range h.Fields() {
		if isForwardedName(f.Name) {
			fresh = false
			break
		}
	}
	ip := x.ClientIP
	if ip != "" {
		b := s.scratch[:0]
		if !fresh {
			h.Values("x-forwarded-for", func(v []byte) {
				if len(b) > 0 {
					b = append(b, ", "...)
				}
				b = append(b, v...)
			})
		}
		if len(b) > 0 {
			b = append(b, ", "...)
			b = append(b, ip...)
			h.Del("x-forwarded-for")
			h.Add(nameXFF, b)
		} else {
			h.AddString("x-forwarded-for", ip)
		}
		s.scratch = b[:0]
		if fresh {
			h.AddString("x-real-ip", ip)
		} else {
			h.SetString("x-real-ip", ip)
		}
	}
	if len(x.Req.Scheme) > 0 {
		if fresh {
			h.Add(nameXFProto, x.Req.Scheme)
		} else {
			h.Set(nameXFProto, x.Req.Scheme)
		}
	}
	if len(x.Req.Authority) > 0 {
		if fresh {
			h.Add(nameXFHost, x.Req.Authority)
		} else {
			h.Set(nameXFHost, x.Req.Authority)
		}
	}
	// x.Local is a TCP address ("host:port", IPv6 hosts in brackets).
	if i := strings.LastIndexByte(x.Local, ':'); i >= 0 && i+1 < len(x.Local) {
		if port := x.Local[i+1:]; fresh {
			h.AddString("x-forwarded-port", port)
		} else {
			h.SetString("x-forwarded-port", port)
		}
	}
	s.scratch = append(s.scratch[:0], x.Req.Authority...)
}

// isForwardedName reports whether a (lower-case) field name is one that
// prepareRequest sets.
func isForwardedName(name []byte) bool {
	switch string(name) {
	case "x-forwarded-for", "x-real-ip", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port":
		return true
	}
	return false
}

// Names of the fields prepareRequest sets from byte slices (package
// variables: a []byte conversion at the call would allocate).
var (
	nameXFF     = []byte("x-forwarded-for")
	nameXFProto = []byte("x-forwarded-proto")
	nameXFHost  = []byte("x-forwarded-host")
)

// upstreamHost is the Host sent upstream: a filter's rewrite of the
// authority wins, else pass_host decides.
func (s *Stream) upstreamHost(u *Upstream, n *Node) []byte {
	x := &s.X
	if !bytes.Equal(x.Req.Authority, s.scratch) {
		return x.Req.Authority
	}
	switch u.PassHost {
	case "node":
		return n.hostHeader
	case "rewrite":
		return u.UpstreamHost
	}
	if len(x.Req.Authority) == 0 {
		// An HTTP/1.0 request without Host: there is nothing to pass, so
		// the upstream gets the node's host, as with pass_host node.
		return n.hostHeader
	}
	return x.Req.Authority
}

var methodIdempotent = [...]string{"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"}

func idempotent(m []byte) bool {
	for _, v := range methodIdempotent {
		if string(m) == v {
			return true
		}
	}
	return false
}

// forward sends the request to a node of u, retrying on other nodes when
// that is safe, and prepares the response.
func (s *Stream) forward(u *Upstream, hasBody bool) {
	x := &s.X
	bodyLen := x.Req.ContentLength
	if hasBody {
		if s.chain != nil && s.chain.WantsRequestBody() {
			s.reqPump.init(s.reqSrc, s.requestThrough, &s.p.bufPool)
			// Run the body through the filters until they let bytes out or
			// it ends: when it ended, the exact length is known.
			if err := s.reqPump.prefill(); err != nil {
				s.requestBodyFailed(err)
				return
			}
			bodyLen = -1
			if s.reqPump.eof && x.Req.Trailer.Len() == 0 {
				// Trailers need a chunked body.
				bodyLen = int64(len(s.reqPump.pending))
			}
		} else {
			s.reqPump.init(s.reqSrc, nil, nil)
		}
	}
	if len(s.tried) < len(u.nodes) {
		s.tried = make([]bool, len(u.nodes))
	}
	tried := s.tried[:len(u.nodes)]
	var key []byte
	if _, ok := u.balancer.(*chash); ok {
		key = s.hashKey(u)
	}
	if s.obs != nil {
		s.upStart = time.Now()
	}
	var deadline time.Time
	if u.RetryTimeout > 0 {
		deadline = x.Start.Add(u.RetryTimeout)
	}
	staleRetried := false
	for attempt := 0; ; attempt++ {
		n := u.balancer.pick(key, tried)
		if n == nil {
			s.respondError(502, nil)
			return
		}
		x.Upstream = n.Addr
		s.buildRequest(u, n, hasBody, bodyLen)
		n.inflight.Add(1)
		err := n.client.Do(&s.up, &s.upResp)
		if err == nil && s.upResp.BodyStream() != nil {
			// The body stream holds the connection until closeUpstream.
			s.upNode = n
		} else {
			n.inflight.Add(-1)
		}
		if err == nil {
			s.response(u)
			return
		}
		if lr := x.LocalResponse(); lr != nil {
			s.respondLocal(lr)
			return
		}
		if s.reqPump.err != nil {
			s.requestBodyFailed(s.reqPump.err)
			return
		}
		if !staleRetried && s.staleRetry(hasBody) {
			// The pooled connection was closed by the upstream while idle:
			// not a failure of the node, and not counted as a retry.
			staleRetried = true
			attempt--
			s.p.opts.ErrorLog.Debug("upstream closed a pooled connection; retrying on another",
				"upstream", n.Addr, "error", err.Error())
			continue
		}
		status := upstreamStatus(err)
		s.failure = err
		s.logFailure(failureMessage(err), err)
		retry := attempt < u.Retries && idempotent(x.Req.Method) &&
			(!hasBody || s.reqPump.rewind()) &&
			(deadline.IsZero() || time.Now().Before(deadline))
		if !retry {
			s.respondError(status, nil)
			return
		}
		tried[n.index] = true
	}
}

// staleRetry reports whether the attempt that just failed may be sent
// again because it found its pooled connection closed by the upstream (see
// upConn.staleFailure): when the request is idempotent or none of it was
// written, and its body, if any, can be sent again.
func (s *Stream) staleRetry(hasBody bool) bool {
	a, ok := s.upResp.LocalAddr().(*upAddr)
	if !ok || !a.c.staleFailure() {
		return false
	}
	if !idempotent(s.X.Req.Method) && a.c.written > 0 {
		return false
	}
	return !hasBody || s.reqPump.rewind()
}

// requestBodyFailed answers when reading or filtering the request body
// failed before a response existed.
func (s *Stream) requestBodyFailed(err error) {
	if lr := s.X.LocalResponse(); lr != nil {
		s.respondLocal(lr)
		return
	}
	var se *filter.StatusError
	if errors.As(err, &se) {
		s.fail(err)
		return
	}
	// The client went away, stalled (client_body_timeout: 408, as nginx)
	// or sent a broken body.
	s.failure = err
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		s.logFailure("client timed out reading the request body", err)
		s.respondError(408, nil)
		return
	}
	s.logFailure("client request body failed", err)
	s.respondError(400, nil)
}

func upstreamStatus(err error) int {
	var ne net.Error
	if errors.Is(err, fasthttp.ErrTimeout) || (errors.As(err, &ne) && ne.Timeout()) {
		return 504
	}
	return 502
}

func failureMessage(err error) string {
	var de *dialError
	timeout := upstreamStatus(err) == 504
	switch {
	case errors.As(err, &de) && timeout:
		return "upstream timed out while connecting to upstream"
	case errors.As(err, &de):
		return "connect() to upstream failed"
	case timeout:
		return "upstream timed out while reading response header from upstream"
	}
	return "upstream request failed"
}

func (s *Stream) buildRequest(u *Upstream, n *Node, hasBody bool, bodyLen int64) {
	x := &s.X
	req := &s.up
	req.Reset()
	req.Header.DisableSpecialHeader()
	req.UseHostHeader = true
	req.Header.SetMethodBytes(x.Req.Method)
	req.Header.SetRequestURIBytes(x.Req.Path)
	req.Header.AddBytesKV(strHost, s.upstreamHost(u, n))
	for _, f := range x.Req.Header.Fields() {
		switch string(f.Name) {
		case "host", "content-length", "transfer-encoding":
			continue
		}
		req.Header.AddBytesKV(f.Name, f.Value)
	}
	s.upHTTPS = u.Scheme == "https"
	if s.upHTTPS {
		req.URI().SetSchemeBytes(strHTTPS)
	}
	if hasBody {
		req.SetBodyStream(&s.reqPump, int(bodyLen))
		// Trailers already read (the filters buffered the whole body).
		s.setUpstreamTrailers()
	}
}

var (
	strHost  = []byte("Host")
	strHTTPS = []byte("https")
)

// hashKey is the chash key of the request, as APISIX computes it.
func (s *Stream) hashKey(u *Upstream) []byte {
	x := &s.X
	switch u.hashOn {
	case "header":
		v, _ := x.Req.Header.Get(u.hashKey)
		return v
	case "cookie":
		return cookie(&x.Req.Header, u.hashKey)
	}
	// vars: nginx variables.
	k := u.hashKey
	switch {
	case k == "" || k == "remote_addr":
		return []byte(x.ClientIP)
	case k == "uri":
		// nginx's $uri: the normalised path the route matched.
		p := x.OrigPath
		if i := bytes.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		if n, err := router.NormalizePath(s.norm, p); err == nil {
			return n
		}
		return p
	case k == "request_uri":
		return x.Req.Path
	case k == "host":
		return hostOnly(x.Req.Authority)
	case len(k) > 5 && k[:5] == "http_":
		name := []byte(k[5:])
		for i, c := range name {
			if c == '_' {
				name[i] = '-'
			}
		}
		v, _ := x.Req.Header.Get(string(name))
		return v
	case len(k) > 7 && k[:7] == "cookie_":
		return cookie(&x.Req.Header, k[7:])
	case len(k) > 4 && k[:4] == "arg_":
		return queryArg(x.Req.Query(), k[4:])
	}
	return []byte(x.ClientIP)
}

func cookie(h *httpcore.Header, name string) []byte {
	var out []byte
	h.Values("cookie", func(v []byte) {
		for out == nil && len(v) > 0 {
			var part []byte
			if i := bytes.IndexByte(v, ';'); i >= 0 {
				part, v = v[:i], v[i+1:]
			} else {
				part, v = v, nil
			}
			part = bytes.TrimSpace(part)
			if eq := bytes.IndexByte(part, '='); eq > 0 && string(part[:eq]) == name {
				out = part[eq+1:]
			}
		}
	})
	return out
}

func queryArg(q []byte, name string) []byte {
	for len(q) > 0 {
		var part []byte
		if i := bytes.IndexByte(q, '&'); i >= 0 {
			part, q = q[:i], q[i+1:]
		} else {
			part, q = q, nil
		}
		k, v, _ := bytes.Cut(part, []byte("="))
		if string(k) == name {
			return v
		}
	}
	return nil
}

// response turns the upstream response into X.Resp, runs the response
// header filters and sets up the body.
func (s *Stream) response(u *Upstream) {
	x := &s.X
	r := &s.upResp
	x.Resp.Status = r.StatusCode()
	for k, v := range r.Header.All() {
		x.Resp.Header.Add(k, v)
	}
	httpcore.RemoveHopByHop(&x.Resp.Header)
	cl := int64(r.Header.ContentLength())
	if cl < 0 {
		cl = -1
	}
	s.upBody = r.BodyStream()
	noBody := s.upBody == nil || cl == 0 || bodyless(x.Req.Method, x.Resp.Status)
	if noBody && !isHead(x.Req.Method) {
		cl = 0
	}
	x.Resp.ContentLength = cl
	if s.chain != nil {
		if err := s.chain.ResponseHeaders(s.ctx, noBody); err != nil {
			s.fail(err)
			return
		}
		if lr := x.LocalResponse(); lr != nil {
			s.respondLocal(lr)
			return
		}
	}
	x.Resp.Header.Del("content-length")
	if noBody {
		s.resPump.init(nil, nil, nil)
		return
	}
	if s.chain != nil && s.chain.WantsResponseBody() {
		s.resPump.init(s.upBody, s.responseThrough, &s.p.bufPool)
		if err := s.resPump.prefill(); err != nil {
			if lr := x.LocalResponse(); lr != nil {
				s.respondLocal(lr)
				return
			}
			s.fail(err)
			return
		}
		x.Resp.ContentLength = -1
		if s.resPump.eof && x.Resp.Trailer.Len() == 0 {
			// Trailers need a chunked body.
			x.Resp.ContentLength = int64(len(s.resPump.pending))
		}
		return
	}
	s.resPump.init(s.upBody, nil, nil)
}

func isHead(m []byte) bool { return string(m) == "HEAD" }

// bodyless reports whether a response to method with status has no body.
func bodyless(method []byte, status int) bool {
	return isHead(method) || status < 200 || status == 204 || status == 304
}

// collectTrailers runs when a body reached its end: it copies the trailers
// that came with it into X.Req.Trailer or X.Resp.Trailer and reports
// whether there are any.
func (s *Stream) collectTrailers(req bool) bool {
	if req {
		if tb, ok := s.reqSrc.(TrailerBody); ok {
			tb.AppendTrailers(&s.X.Req.Trailer)
		}
		return s.X.Req.Trailer.Len() > 0
	}
	if s.upBody == nil {
		return false
	}
	h := &s.upResp.Header
	for name := range h.Trailers() {
		for _, v := range h.PeekAll(string(name)) {
			s.X.Resp.Trailer.Add(name, v)
		}
	}
	return s.X.Resp.Trailer.Len() > 0
}

// runTrailers runs the trailer filters once collectTrailers found trailers,
// and returns the body bytes filters held buffered, to be sent before the
// trailers. Request trailers are then set on the upstream request, which
// fasthttp writes after the body it is still reading.
func (s *Stream) runTrailers(req bool) ([]byte, error) {
	var flushed []byte
	if s.chain != nil {
		var err error
		if req {
			flushed, err = s.chain.RequestTrailers(s.ctx)
		} else {
			flushed, err = s.chain.ResponseTrailers(s.ctx)
		}
		if err != nil {
			return nil, err
		}
		if s.X.LocalResponse() != nil {
			return nil, errLocalResponse
		}
	}
	if req {
		s.setUpstreamTrailers()
	}
	return flushed, nil
}

// setUpstreamTrailers puts X.Req.Trailer on the upstream request. Names
// fasthttp forbids in trailers (framing, routing, authentication and
// content fields, RFC 9110 section 6.5.1) are dropped. fasthttp writes the
// trailer section after the chunked body, so setting them while it reads
// the body still sends them.
func (s *Stream) setUpstreamTrailers() {
	h := &s.up.Header
	for _, f := range s.X.Req.Trailer.Fields() {
		if h.AddTrailerBytes(f.Name) != nil {
			continue
		}
		h.AddBytesKV(f.Name, f.Value)
	}
}

func (s *Stream) requestThrough(chunk []byte, eos bool) ([]byte, error) {
	out, err := s.chain.RequestBody(s.ctx, chunk, eos)
	if err != nil {
		return nil, err
	}
	if s.X.LocalResponse() != nil {
		return nil, errLocalResponse
	}
	return out, nil
}

func (s *Stream) responseThrough(chunk []byte, eos bool) ([]byte, error) {
	out, err := s.chain.ResponseBody(s.ctx, chunk, eos)
	if err != nil {
		return nil, err
	}
	if s.X.LocalResponse() != nil {
		// After the head was sent a local response can only abort.
		return nil, errLocalResponse
	}
	return out, nil
}

// errPanic is the failure of a request whose handling panicked.
var errPanic = errors.New("internal error: panic while handling the request")

// recoverServe turns a panic in Serve into a 500 and an error-log line
// (the stack at debug level); the engine then sends it as any answer.
func (s *Stream) recoverServe() {
	r := recover()
	if r == nil {
		return
	}
	s.logPanic(r)
	s.fail(fmt.Errorf("%w: %v", errPanic, r))
}

// recoverRead turns a panic while producing the response body into an
// error: the engine drops the connection, as for a failed upstream body.
func (s *Stream) recoverRead(err *error) {
	r := recover()
	if r == nil {
		return
	}
	s.logPanic(r)
	*err = fmt.Errorf("%w: %v", errPanic, r)
	if s.failure == nil {
		s.failure = *err
	}
}

func (s *Stream) logPanic(r any) {
	l := s.p.opts.ErrorLog
	l.Error("panic while handling a request", "panic", fmt.Sprint(r), "route", s.X.RouteID)
	if l.Enabled(context.Background(), slog.LevelDebug) {
		l.Debug("panic stack", "stack", string(debug.Stack()))
	}
}

// fail answers with the status err maps to.
func (s *Stream) fail(err error) {
	if s.failure == nil {
		s.failure = err
	}
	s.logFailure("request failed", err)
	s.respondError(filter.HTTPStatus(err), nil)
}

// respondError answers with a small JSON body, as APISIX does.
func (s *Stream) respondError(status int, _ []byte) {
	s.closeUpstream()
	x := &s.X
	x.Resp.Reset()
	x.Resp.Status = status
	body := errorBody(status)
	x.Resp.Header.AddString("content-type", "application/json")
	s.setLocalBody(body)
}

// respondLocal answers with a filter's local response.
func (s *Stream) respondLocal(lr *filter.LocalResponse) {
	s.closeUpstream()
	x := &s.X
	x.Resp.Reset()
	x.Resp.Status = lr.Status
	if x.Resp.Status == 0 {
		x.Resp.Status = 200
	}
	for _, f := range lr.Header.Fields() {
		switch string(f.Name) {
		case "content-length", "transfer-encoding", "connection":
			continue
		}
		x.Resp.Header.Add(f.Name, f.Value)
	}
	s.setLocalBody(lr.Body)
}

func (s *Stream) setLocalBody(body []byte) {
	x := &s.X
	if bodyless(x.Req.Method, x.Resp.Status) {
		x.Resp.ContentLength = int64(len(body))
		if !isHead(x.Req.Method) {
			x.Resp.ContentLength = 0
		}
		s.resPump.init(nil, nil, nil)
		return
	}
	s.local.Reset(body)
	x.Resp.ContentLength = int64(len(body))
	s.resPump.init(&s.local, nil, nil)
}

// closeUpstream releases the upstream connection the response body holds:
// back to the pool, or closed when keepalive_pool says so (Node.keepAfter).
func (s *Stream) closeUpstream() {
	n := s.upNode
	s.upNode = nil
	if s.upBody != nil {
		if a, ok := s.upResp.LocalAddr().(*upAddr); ok && n != nil {
			if !n.keepAfter(a.c) {
				s.upResp.SetConnectionClose()
			}
			n = nil // keepAfter released the hold
		}
		s.upResp.CloseBodyStream() //nolint:errcheck // the connection is dropped on error
		s.upBody = nil
	}
	if n != nil {
		n.inflight.Add(-1)
	}
}

var errorBodies = func() map[int][]byte {
	m := map[int][]byte{}
	for _, st := range []int{400, 404, 408, 413, 431, 499, 500, 502, 503, 504} {
		m[st] = makeErrorBody(st)
	}
	return m
}()

func makeErrorBody(status int) []byte {
	text := statusText(status)
	return []byte(`{"error_msg":"` + strconv.Itoa(status) + " " + text + `"}` + "\n")
}

func statusText(status int) string {
	switch status {
	case 404:
		return "Route Not Found"
	case 499:
		return "Client Closed Request"
	}
	if t := httpStatusText(status); t != "" {
		return t
	}
	return "Error"
}

func errorBody(status int) []byte {
	if b, ok := errorBodies[status]; ok {
		return b
	}
	return makeErrorBody(status)
}

// logFailure writes an error-log line with the request context nginx logs.
func (s *Stream) logFailure(msg string, err error) {
	l := s.p.opts.ErrorLog
	if !l.Enabled(context.Background(), slog.LevelError) {
		return
	}
	x := &s.X
	method, path := s.X.RequestLine()
	reqLine := string(method) + " " + string(path) + " " + x.Req.Proto
	upstream := ""
	if x.Upstream != "" {
		scheme := "http://"
		if s.upHTTPS {
			scheme = "https://"
		}
		upstream = scheme + x.Upstream + string(x.Req.Path)
	}
	l.LogAttrs(context.Background(), slog.LevelError, msg,
		slog.String("error", err.Error()),
		slog.String("client", x.ClientIP),
		slog.String("server", x.Local),
		slog.String("request", reqLine),
		slog.String("host", string(x.Req.Authority)),
		slog.String("upstream", upstream),
		slog.String("route_id", x.RouteID),
		slog.String("request_id", x.RequestID),
	)
}

func (s *Stream) accessLog() {
	l := s.p.opts.AccessLog
	if l == nil {
		return
	}
	x := &s.X
	ctx := s.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	if !l.Enabled(ctx, slog.LevelInfo) {
		return
	}
	status := x.Resp.Status
	if s.failure != nil && x.ResponseStarted && s.resPump.err != nil {
		// The body failed after the head: the client saw a broken response.
		status = 0
	}
	method, path := s.X.RequestLine()
	if h, ok := l.Handler().(*accesslog.Handler); ok {
		// The same line as below, without slog's attrs and allocations.
		h.Write(&accesslog.Entry{ //nolint:errcheck // as LogAttrs
			Client:    x.ClientIP,
			Method:    method,
			Path:      path,
			Host:      x.Req.Authority,
			Proto:     x.Req.Proto,
			Status:    status,
			Bytes:     s.bytesSent,
			Upstream:  x.Upstream,
			Duration:  time.Since(x.Start),
			RouteID:   x.RouteID,
			RequestID: x.RequestID,
		})
		return
	}
	l.LogAttrs(ctx, slog.LevelInfo, "access",
		slog.String("client", x.ClientIP),
		slog.String("method", string(method)),
		slog.String("path", string(path)),
		slog.String("host", string(x.Req.Authority)),
		slog.String("proto", x.Req.Proto),
		slog.Int("status", status),
		slog.Int64("bytes", s.bytesSent),
		slog.String("upstream", x.Upstream),
		slog.Duration("duration", time.Since(x.Start)),
		slog.String("route_id", x.RouteID),
		slog.String("request_id", x.RequestID),
	)
}
