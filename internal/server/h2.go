package server

import (
	"io"
	"net/http"
	"strconv"
	"sync"

	"golang.org/x/net/http2"

	"github.com/heimdallgw/heimdall/internal/proxy"
)

var h2bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// serveH2Conn serves one HTTP/2 connection until it ends.
func (s *Server) serveH2Conn(c *tlsConn) {
	c.info.fill(c)
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		c.Close()
		return
	}
	s.h2conns[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.h2conns, c)
		s.mu.Unlock()
	}()
	s.h2.ServeConn(c, &http2.ServeConnOpts{
		Context:    s.base,
		BaseConfig: s.h2hs,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.serveH2(w, r, &c.info)
		}),
	})
}

// serveH2 is the HTTP/2 counterpart of serveFast. The handler runs until
// the response body is sent, so the request context stays valid.
func (s *Server) serveH2(w http.ResponseWriter, r *http.Request, info *connInfo) {
	if r.Method == http.MethodConnect {
		// As on HTTP/1.1 (checkHead): a gateway is not a tunnel.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMethodNotAllowed)
		w.Write(errorJSON(http.StatusMethodNotAllowed)) //nolint:errcheck
		return
	}
	max := s.cfg.MaxRequestBodySize
	if max > 0 && r.ContentLength > max {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		w.Write(errorJSON(http.StatusRequestEntityTooLarge)) //nolint:errcheck
		return
	}
	st := s.h.NewStream()
	x := &st.X
	x.Req.Method = append(x.Req.Method[:0], r.Method...)
	x.Req.Path = append(x.Req.Path[:0], r.RequestURI...)
	x.Req.Authority = append(x.Req.Authority[:0], r.Host...)
	x.Req.Scheme = append(x.Req.Scheme[:0], "https"...)
	x.Req.Proto = "HTTP/2.0"
	x.TLS = true
	x.Req.ContentLength = r.ContentLength
	if len(r.Trailer) > 0 && r.ContentLength > 0 {
		// Declared trailers need a chunked upstream body.
		x.Req.ContentLength = -1
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			x.Req.Header.AddString(k, v)
		}
	}
	x.Client, x.ClientIP, x.Local = info.client, info.clientIP, info.local
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		var body io.Reader = r.Body
		if max > 0 || len(r.Trailer) > 0 {
			// Go's HTTP/2 server keeps only the trailers the request
			// declared (Trailer field); it fills r.Trailer at the end of
			// the body.
			body = &limitReader{r: body, n: max, limited: max > 0, h2: r.Trailer}
		}
		st.SetRequestBody(body)
	}
	s.h.Serve(r.Context(), st)
	writeH2(w, st)
}

func writeH2(w http.ResponseWriter, st *proxy.Stream) {
	x := &st.X
	h := w.Header()
	for _, f := range x.Resp.Header.Fields() {
		k := string(f.Name)
		h[k] = append(h[k], string(f.Value))
	}
	if x.Resp.ContentLength >= 0 {
		h["content-length"] = []string{strconv.FormatInt(x.Resp.ContentLength, 10)}
	}
	w.WriteHeader(x.Resp.Status)
	if x.Resp.ContentLength == 0 {
		st.Close()
		return
	}
	rc := http.NewResponseController(w)
	bp := h2bufPool.Get().(*[]byte)
	defer h2bufPool.Put(bp)
	buf := *bp
	for {
		n, err := st.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				st.Close()
				return
			}
			_ = rc.Flush()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			st.Close()
			// Reset the stream: the client must not take the response as
			// complete.
			panic(http.ErrAbortHandler)
		}
	}
	for _, f := range st.ResponseTrailers().Fields() {
		k := http.TrailerPrefix + string(f.Name)
		h[k] = append(h[k], string(f.Value))
	}
	st.Close()
}
