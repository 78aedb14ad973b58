package server

import (
	"bytes"
	"io"
	"net/http"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/httpcore"
	"github.com/heimdallgw/heimdall/internal/proxy"
)

var (
	strHTTP  = []byte("http")
	strHTTPS = []byte("https")
)

// serveFast translates a fasthttp request into a proxy.Stream, runs it and
// hands the response body to fasthttp as a body stream: fasthttp pulls it
// after this function returned, and closes the Stream when done, which
// ends the request. Everything the Stream keeps is copied out of ctx.
func (s *Server) serveFast(ctx *fasthttp.RequestCtx) {
	var info *connInfo
	if ic, ok := ctx.Conn().(infoConn); ok {
		info = ic.connInfo()
		info.fill(ctx.Conn())
	}
	rh := &ctx.Request.Header
	cl := int64(rh.ContentLength())
	switch {
	case cl == -2: // no framing: a request without body
		cl = 0
	case cl < -1:
		cl = -1
	}
	if max := s.cfg.MaxRequestBodySize; max > 0 && cl > max {
		s.fastReject(ctx, info, fasthttp.StatusRequestEntityTooLarge)
		return
	}
	if !validHead(rh) {
		s.fastReject(ctx, info, fasthttp.StatusBadRequest)
		return
	}

	if ic, ok := ctx.Conn().(infoConn); ok {
		if err := ic.head().err; err != nil {
			// The head broke a rule fasthttp accepted (it arrived in one
			// read, so fasthttp parsed it before the error was returned).
			status := errorStatus(ctx, err)
			s.logMalformed(ctx, status, err.Error(), true)
			s.fastReject(ctx, info, status)
			return
		}
	}
	if status, reason := checkHead(rh); status != 0 {
		s.logMalformed(ctx, status, reason, true)
		s.fastReject(ctx, info, status)
		return
	}

	st := s.h.NewStream()
	x := &st.X
	x.Req.SetMethod(rh.Method())
	if uri := rh.RequestURI(); len(uri) > 0 && uri[0] != '/' {
		// absolute-form (RFC 9112 section 3.2.2): route on its path and take
		// its authority, ignoring Host; the upstream gets origin-form.
		authority, path := splitAbsolute(uri)
		x.Req.SetPath(path)
		x.Req.SetAuthority(authority)
	} else {
		x.Req.SetPath(uri)
		x.Req.SetAuthority(rh.Host())
	}
	if ctx.IsTLS() {
		x.Req.SetScheme(strHTTPS)
		x.TLS = true
	} else {
		x.Req.SetScheme(strHTTP)
	}
	if rh.IsHTTP11() {
		x.Req.Proto = "HTTP/1.1"
	} else {
		x.Req.Proto = "HTTP/1.0"
	}
	x.Req.ContentLength = cl
	for k, v := range rh.AllInOrder() {
		x.Req.Header.Add(k, v)
	}
	if info != nil {
		x.Client, x.ClientIP, x.Local = info.client, info.clientIP, info.local
	}
	var lim *limitReader
	if cl != 0 {
		body := ctx.RequestBodyStream()
		if cl < 0 {
			// Chunked: the body may end with trailers, and has no declared
			// length to check against the limit.
			lim = &limitReader{r: body, h1: rh}
			if max := s.cfg.MaxRequestBodySize; max > 0 {
				lim.n, lim.limited = max, true
			}
			body = lim
		}
		st.SetRequestBody(body)
	}
	s.h.Serve(s.base, st)
	if x.Resp.Status == fasthttp.StatusRequestTimeout {
		// The client stalled its body (client_body_timeout): nginx closes.
		ctx.SetConnectionClose()
	}
	if lim != nil && lim.exceeded {
		// The rest of the body is still on the wire.
		ctx.SetConnectionClose()
		if info != nil {
			info.linger.Store(true)
		}
	}

	resp := &ctx.Response
	resp.SetStatusCode(x.Resp.Status)
	for _, f := range x.Resp.Header.Fields() {
		resp.Header.AddBytesKV(f.Name, f.Value)
	}
	n := x.Resp.ContentLength
	if n == 0 {
		resp.Header.SetContentLength(0)
		st.Close()
		return
	}
	// fasthttp reads st until EOF (or an error, on which it drops the
	// connection: the client sees a truncated response) and closes it.
	if n < 0 {
		// Chunked: the response may end with trailers, which must be on
		// resp by the time the body ends.
		b := h1BodyPool.Get().(*h1Body)
		b.st, b.resp = st, resp
		resp.SetBodyStream(b, -1)
		return
	}
	resp.SetBodyStream(st, int(n))
}

var h1BodyPool = sync.Pool{New: func() any { return new(h1Body) }}

// h1Body is the response body of a chunked HTTP/1.1 response: at the end of
// the body it copies the response trailers onto the fasthttp response.
// fasthttp writes the trailer section after the chunked body it reads until
// io.EOF, so trailers set then are sent (no Trailer field announces them in
// the head: the names are known only at the end; RFC 9112 section 7.1.2
// lets recipients take undeclared trailers).
type h1Body struct {
	st   *proxy.Stream
	resp *fasthttp.Response
}

func (b *h1Body) Read(p []byte) (int, error) {
	n, err := b.st.Read(p)
	if err == io.EOF {
		for _, f := range b.st.ResponseTrailers().Fields() {
			// Names fasthttp forbids in trailers (RFC 9110 section 6.5.1)
			// are dropped.
			if b.resp.Header.AddTrailerBytes(f.Name) == nil {
				b.resp.Header.AddBytesKV(f.Name, f.Value)
			}
		}
	}
	return n, err
}

func (b *h1Body) Close() error {
	err := b.st.Close()
	b.st, b.resp = nil, nil
	h1BodyPool.Put(b)
	return err
}

// fastReject answers status without reading the request body and closes
// the connection after draining what the client still sends.
func (s *Server) fastReject(ctx *fasthttp.RequestCtx, info *connInfo, status int) {
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(errorJSON(status))
	ctx.SetConnectionClose()
	if info != nil {
		info.linger.Store(true)
	}
}

// fastError answers requests fasthttp could not read.
func (s *Server) fastError(ctx *fasthttp.RequestCtx, err error) {
	status := errorStatus(ctx, err)
	s.logMalformed(ctx, status, err.Error(), false)
	if ic, ok := ctx.Conn().(infoConn); ok {
		ic.connInfo().linger.Store(true)
	}
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(errorJSON(status))
}

// splitAbsolute splits an absolute-form request-target
// ("http://host:port/path?query") into its authority and an origin-form
// target ("/path?query", "/" when the path is empty). A target without
// "://" (the asterisk form) is returned as the path with no authority.
func splitAbsolute(uri []byte) (authority, path []byte) {
	i := bytes.Index(uri, strSchemeSep)
	if i < 0 {
		return nil, uri
	}
	rest := uri[i+len(strSchemeSep):]
	end := bytes.IndexAny(rest, "/?#")
	if end < 0 {
		return rest, strSlash
	}
	authority, path = rest[:end], rest[end:]
	if at := bytes.LastIndexByte(authority, '@'); at >= 0 {
		authority = authority[at+1:] // userinfo is deprecated and never forwarded
	}
	switch path[0] {
	case '/':
		return authority, path
	case '?':
		return authority, append([]byte("/"), path...)
	}
	return authority, strSlash // a fragment only
}

var (
	strSchemeSep = []byte("://")
	strSlash     = []byte("/")
)

func errorJSON(status int) []byte {
	return []byte(`{"error_msg":"` + itoa(status) + " " + fasthttp.StatusMessage(status) + `"}` + "\n")
}

func itoa(n int) string {
	var b [8]byte
	i := len(b)
	for n >= 10 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	i--
	b[i] = byte('0' + n)
	return string(b[i:])
}

// ErrBodyTooLarge is the error a request body read returns once the body
// crosses Config.MaxRequestBodySize; the proxy answers 413.
var ErrBodyTooLarge = &filter.StatusError{Status: 413, Msg: "request body exceeds the size limit"}

// limitReader is a request body that fails once more than n bytes were
// read (when limited) and that hands the proxy the trailers that ended it
// (proxy.TrailerBody): from the fasthttp request header (HTTP/1.1 chunked),
// or from the declared trailers of an HTTP/2 request.
type limitReader struct {
	r        io.Reader
	n        int64
	limited  bool
	exceeded bool
	h1       *fasthttp.RequestHeader
	h2       http.Header
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if l.limited {
		l.n -= int64(n)
		if l.n < 0 {
			l.exceeded = true
			return 0, ErrBodyTooLarge
		}
	}
	return n, err
}

// AppendTrailers implements proxy.TrailerBody.
func (l *limitReader) AppendTrailers(h *httpcore.Header) {
	if l.h1 != nil {
		for name := range l.h1.Trailers() {
			for _, v := range l.h1.PeekAll(string(name)) {
				h.Add(name, v)
			}
		}
	}
	for k, vs := range l.h2 {
		for _, v := range vs {
			h.AddString(k, v)
		}
	}
}
