package server

import (
	"errors"
	"io"

	"github.com/valyala/fasthttp"

	"github.com/heimdallgw/heimdall/internal/filter"
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

	st := s.h.NewStream()
	x := &st.X
	x.Req.SetMethod(rh.Method())
	x.Req.SetPath(rh.RequestURI())
	x.Req.SetAuthority(rh.Host())
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
		if max := s.cfg.MaxRequestBodySize; max > 0 && cl < 0 {
			lim = &limitReader{r: body, n: max}
			body = lim
		}
		st.SetRequestBody(body)
	}
	s.h.Serve(s.base, st)
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
	resp.SetBodyStream(st, int(n))
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
	status := fasthttp.StatusBadRequest
	var small *fasthttp.ErrSmallBuffer
	var ne interface{ Timeout() bool }
	switch {
	case errors.As(err, &small):
		status = fasthttp.StatusRequestHeaderFieldsTooLarge
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status = fasthttp.StatusRequestEntityTooLarge
	case errors.As(err, &ne) && ne.Timeout():
		status = fasthttp.StatusRequestTimeout
	}
	if ic, ok := ctx.Conn().(infoConn); ok {
		ic.connInfo().linger.Store(true)
	}
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(errorJSON(status))
}

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

// limitReader fails once more than n bytes were read.
type limitReader struct {
	r        io.Reader
	n        int64
	exceeded bool
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		l.exceeded = true
		return 0, ErrBodyTooLarge
	}
	return n, err
}
