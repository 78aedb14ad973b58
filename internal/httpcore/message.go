package httpcore

import "strconv"

// Request is the downstream request as the filter chain sees it.
//
// Method, Path (the request-target: path and query), Authority (the Host) and
// Scheme are the proxy-wasm pseudo headers :method, :path, :authority and
// :scheme; Header holds the ordinary fields. All byte slices are owned by the
// Request and valid until Reset.
type Request struct {
	Method    []byte
	Path      []byte
	Authority []byte
	Scheme    []byte
	// Proto is "HTTP/1.0", "HTTP/1.1" or "HTTP/2.0".
	Proto string
	// ContentLength is the declared body length, or -1 when unknown
	// (chunked, HTTP/2 without content-length), 0 for no body.
	ContentLength int64
	Header        Header
	Trailer       Header
}

// Reset clears r for reuse.
func (r *Request) Reset() {
	r.Method = r.Method[:0]
	r.Path = r.Path[:0]
	r.Authority = r.Authority[:0]
	r.Scheme = r.Scheme[:0]
	r.Proto = ""
	r.ContentLength = 0
	r.Header.Reset()
	r.Trailer.Reset()
}

// SetMethod, SetPath, SetAuthority and SetScheme copy v into r.
func (r *Request) SetMethod(v []byte)    { r.Method = append(r.Method[:0], v...) }
func (r *Request) SetPath(v []byte)      { r.Path = append(r.Path[:0], v...) }
func (r *Request) SetAuthority(v []byte) { r.Authority = append(r.Authority[:0], v...) }
func (r *Request) SetScheme(v []byte)    { r.Scheme = append(r.Scheme[:0], v...) }

// URLPath is Path without the query string.
func (r *Request) URLPath() []byte {
	for i, c := range r.Path {
		if c == '?' {
			return r.Path[:i]
		}
	}
	return r.Path
}

// Query is the query string without '?', or nil.
func (r *Request) Query() []byte {
	for i, c := range r.Path {
		if c == '?' {
			return r.Path[i+1:]
		}
	}
	return nil
}

// Response is the upstream (or local) response as the filter chain sees it.
type Response struct {
	Status int
	// ContentLength as for Request.
	ContentLength int64
	Header        Header
	Trailer       Header
}

// Reset clears r for reuse.
func (r *Response) Reset() {
	r.Status = 0
	r.ContentLength = 0
	r.Header.Reset()
	r.Trailer.Reset()
}

// StatusBytes is the status code in decimal, as the :status pseudo header.
func (r *Response) StatusBytes(dst []byte) []byte {
	return strconv.AppendInt(dst, int64(r.Status), 10)
}

// isHopByHop reports whether a lower-case field name is one of the
// connection-specific fields a proxy must not forward (RFC 9110 section
// 7.6.1), or one of the legacy ones every proxy strips.
func isHopByHop(name []byte) bool {
	switch string(name) {
	case "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
		"proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade":
		return true
	}
	return false
}

// RemoveHopByHop deletes the hop-by-hop fields and every field named in
// Connection from h. The common case (no Connection field) is one pass over
// the fields.
func RemoveHopByHop(h *Header) {
	var conn [][]byte
	out := h.fields[:0]
	for _, f := range h.fields {
		if isHopByHop(f.Name) {
			if string(f.Name) == "connection" {
				// The value stays valid: the arena is not touched here.
				conn = append(conn, f.Value)
			}
			continue
		}
		out = append(out, f)
	}
	clear(h.fields[len(out):])
	h.fields = out
	for _, v := range conn {
		start := 0
		for i := 0; i <= len(v); i++ {
			if i == len(v) || v[i] == ',' {
				if tok := trimSpace(v[start:i]); len(tok) > 0 {
					del(h, tok)
				}
				start = i + 1
			}
		}
	}
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
