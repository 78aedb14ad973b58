package server

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"strings"

	"github.com/valyala/fasthttp"
)

// checkHead applies the RFC 9112 rules fasthttp's parser leaves to its
// user, in nginx's way, to a request whose head fasthttp accepted. It
// returns 0 for a request that may go on, else the status to answer with
// and the reason to log. The raw head is scanned once, line end to line end.
//
//   - CONNECT: 405, as nginx (since 1.21.1) — a gateway is not a tunnel.
//   - Content-Length and Transfer-Encoding together: 400. RFC 9112 section
//     6.1 allows rejecting or processing as chunked and closing; nginx
//     (since 1.21.1) rejects, which leaves no way for a smuggled second
//     request to hide in a body two parsers frame differently.
//   - Transfer-Encoding other than exactly "chunked" (fasthttp accepts and
//     drops "identity"): 501, as nginx ("unknown Transfer-Encoding").
func checkHead(rh *fasthttp.RequestHeader) (int, string) {
	if string(rh.Method()) == fasthttp.MethodConnect {
		return fasthttp.StatusMethodNotAllowed, "CONNECT is not supported"
	}
	var cl, te bool
	var teValue []byte
	for raw := rh.RawHeaders(); len(raw) > 0; {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		switch name := line[:colon]; len(name) {
		case len("content-length"):
			cl = cl || bytes.EqualFold(name, strContentLength)
		case len("transfer-encoding"):
			if bytes.EqualFold(name, strTransferEncoding) {
				te, teValue = true, bytes.TrimSpace(line[colon+1:])
			}
		}
	}
	switch {
	case cl && te:
		return fasthttp.StatusBadRequest, "both Content-Length and Transfer-Encoding"
	case te && !bytes.EqualFold(teValue, strChunked):
		return fasthttp.StatusNotImplemented, "unsupported Transfer-Encoding"
	}
	return 0, ""
}

var (
	strContentLength    = []byte("content-length")
	strTransferEncoding = []byte("transfer-encoding")
	strChunked          = []byte("chunked")
)

// errorStatus maps an error fasthttp met reading a request head (or that
// the connection's head scan returned) to the answer.
func errorStatus(ctx *fasthttp.RequestCtx, err error) int {
	var small *fasthttp.ErrSmallBuffer
	var ne interface{ Timeout() bool }
	switch {
	case errors.As(err, &small):
		// The head did not fit the buffer: the request line alone (414,
		// nginx's answer to a request line over its buffers) or the fields.
		if ic, ok := ctx.Conn().(infoConn); ok && ic.head().requestLineOpen() {
			return fasthttp.StatusRequestURITooLong
		}
		return fasthttp.StatusRequestHeaderFieldsTooLarge
	case errors.Is(err, errTooManyHeaders):
		return fasthttp.StatusRequestHeaderFieldsTooLarge
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return fasthttp.StatusRequestEntityTooLarge
	case errors.Is(err, fasthttp.ErrUnsupportedTransferEncoding):
		// An HTTP/1.0 request with Transfer-Encoding has faulty framing
		// (RFC 9112 section 6.1): 400; else an unknown coding, 501 (nginx).
		if ic, ok := ctx.Conn().(infoConn); ok && ic.head().http10() {
			return fasthttp.StatusBadRequest
		}
		return fasthttp.StatusNotImplemented
	case errors.As(err, &ne) && ne.Timeout():
		return fasthttp.StatusRequestTimeout
	}
	return fasthttp.StatusBadRequest
}

// logMalformed logs a refused request as a summary that carries no header
// value, body byte or query string: method, the path truncated, the peer,
// the status and the reason with every quoted part elided (fasthttp's
// messages quote the offending bytes, which may be a credential).
func (s *Server) logMalformed(ctx *fasthttp.RequestCtx, status int, reason string, parsed bool) {
	if !s.log.Enabled(s.base, slog.LevelWarn) {
		return
	}
	rh := &ctx.Request.Header
	method, target := rh.Method(), rh.RequestURI()
	if ic, ok := ctx.Conn().(infoConn); ok && !parsed {
		// fasthttp reset its header after the error: take the request line
		// as it arrived.
		method, target = ic.head().requestLine()
	}
	peer := ""
	if a := ctx.RemoteAddr(); a != nil {
		peer = a.String()
		if ta, ok := a.(*net.TCPAddr); ok {
			peer = ta.IP.String()
		}
	}
	s.log.Warn("malformed request refused",
		"status", status,
		"method", truncate(strings.ToValidUTF8(string(method), "?"), 16),
		"target", redactTarget(target),
		"client", peer,
		"reason", redactQuoted(reason))
}

// redactTarget is the request-target without its query, at most 64 bytes.
func redactTarget(t []byte) string {
	if i := bytes.IndexByte(t, '?'); i >= 0 {
		t = t[:i]
	}
	return truncate(strings.ToValidUTF8(string(t), "?"), 64)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// redactQuoted replaces every Go-quoted ("...", with backslash escapes)
// part of s by "…".
func redactQuoted(s string) string {
	if !strings.Contains(s, `"`) {
		return s
	}
	var b strings.Builder
	in, esc := false, false
	for _, r := range s {
		switch {
		case !in:
			b.WriteRune(r)
			if r == '"' {
				in = true
				b.WriteString("…")
			}
		case esc:
			esc = false
		case r == '\\':
			esc = true
		case r == '"':
			in = false
			b.WriteRune(r)
		}
	}
	if in {
		b.WriteRune('"')
	}
	return b.String()
}
