// Package accesslog writes the gateway's access-log line without going
// through slog's generic record machinery.
//
// A Handler is a [slog.Handler] (a [slog.TextHandler] underneath, used for
// every record other than the access line) whose Write method appends the
// access line straight into a reused buffer, in exactly the bytes the
// TextHandler would write for
//
//	logger.LogAttrs(ctx, slog.LevelInfo, "access",
//		slog.String("client", e.Client), slog.String("method", string(e.Method)), ...)
//
// with the record time taken when Write is called. The proxy uses Write when
// its access logger's handler is a *Handler and LogAttrs otherwise.
package accesslog

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// Entry is one access-log line's fields, in the order they are written.
// Method, Path and Host are byte slices so that the request's own buffers
// can be logged without copying; Write does not keep them.
type Entry struct {
	Client   string
	Method   []byte
	Path     []byte
	Host     []byte
	Proto    string
	Status   int
	Bytes    int64
	Upstream string
	Duration time.Duration
	RouteID  string
	// RequestID is the last field of the line.
	RequestID string
}

// Handler is a slog.Handler writing text records, with a fast path (Write)
// for the access line. Build it with NewTextHandler.
type Handler struct {
	text *slog.TextHandler
	w    io.Writer
	pool sync.Pool // *encoder
}

// NewTextHandler returns a Handler writing to w what
// slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}) writes.
// Every line goes to w with one Write call; w must be safe for concurrent
// use if the Handler is used concurrently (slog.TextHandler serializes its
// own writes, Write does not).
func NewTextHandler(w io.Writer, level slog.Leveler) *Handler {
	h := &Handler{text: slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}), w: w}
	h.pool.New = func() any { return &encoder{buf: make([]byte, 0, 512)} }
	return h
}

// Enabled reports whether records at level are written.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.text.Enabled(ctx, level)
}

// Handle writes r as slog.TextHandler does.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	return h.text.Handle(ctx, r)
}

// WithAttrs returns a plain slog.TextHandler with attrs (the fast path does
// not apply to it).
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.text.WithAttrs(attrs)
}

// WithGroup returns a plain slog.TextHandler with the group.
func (h *Handler) WithGroup(name string) slog.Handler {
	return h.text.WithGroup(name)
}

// Write writes e as an Info record with message "access", timestamped now.
// It does not check Enabled: callers do, as slog.Logger.LogAttrs would.
func (h *Handler) Write(e *Entry) error {
	return h.write(time.Now(), e)
}

func (h *Handler) write(t time.Time, e *Entry) error {
	enc := h.pool.Get().(*encoder)
	enc.buf = enc.appendLine(enc.buf[:0], t, e)
	_, err := h.w.Write(enc.buf)
	if cap(enc.buf) <= 64<<10 { // keep pathological lines from pinning memory
		h.pool.Put(enc)
	}
	return err
}

// encoder holds a line buffer and the formatted time of the last second it
// wrote, which most lines share.
type encoder struct {
	buf []byte
	// sec and loc identify the second whose formatted text is in
	// prefix ("2006-01-02T15:04:05") and zone ("Z07:00").
	sec    int64
	loc    *time.Location
	prefix []byte
	zone   []byte
}

// appendLine appends the access line for e at time t, newline included.
func (enc *encoder) appendLine(b []byte, t time.Time, e *Entry) []byte {
	b = append(b, "time="...)
	b = enc.appendTime(b, t)
	b = append(b, " level=INFO msg=access client="...)
	b = appendString(b, e.Client)
	b = append(b, " method="...)
	b = appendString(b, bytesString(e.Method))
	b = append(b, " path="...)
	b = appendString(b, bytesString(e.Path))
	b = append(b, " host="...)
	b = appendString(b, bytesString(e.Host))
	b = append(b, " proto="...)
	b = appendString(b, e.Proto)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, " bytes="...)
	b = strconv.AppendInt(b, e.Bytes, 10)
	b = append(b, " upstream="...)
	b = appendString(b, e.Upstream)
	b = append(b, " duration="...)
	b = append(b, e.Duration.String()...) // inlined: the string stays on the stack
	b = append(b, " route_id="...)
	b = appendString(b, e.RouteID)
	b = append(b, " request_id="...)
	b = appendString(b, e.RequestID)
	return append(b, '\n')
}

// appendTime appends t as slog.TextHandler does: RFC 3339 with exactly three
// fractional digits, truncated, in t's location. The seconds and zone text
// are formatted once per second and reused.
func (enc *encoder) appendTime(b []byte, t time.Time) []byte {
	sec := t.Unix()
	if sec != enc.sec || t.Location() != enc.loc || enc.prefix == nil {
		if y := t.Year(); y < 0 || y > 9999 {
			// Not the fixed-width layout the cache assumes.
			return appendRFC3339Millis(b, t)
		}
		enc.sec, enc.loc = sec, t.Location()
		// "2006-01-02T15:04:05.000Z07:00": 19 bytes, '.', 3 digits, zone.
		full := appendRFC3339Millis(enc.prefix[:0], t)
		enc.prefix = full[:19]
		enc.zone = append(enc.zone[:0], full[23:]...)
	}
	ms := t.Nanosecond() / 1e6
	b = append(b, enc.prefix...)
	b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	return append(b, enc.zone...)
}

// appendRFC3339Millis is the time format of slog's text handler: RFC 3339
// truncated to milliseconds, always three fractional digits.
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	// RFC3339Nano trims trailing zeros; the added 1/10 ms keeps four
	// fractional digits, the fourth of which is dropped.
	t = t.Round(0).Truncate(time.Millisecond).Add(time.Millisecond / 10)
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefixLen], b[n+prefixLen+1:]...)
}

// appendString appends s as slog.TextHandler writes a string value: as is,
// or Go-quoted when it is empty or holds a space, '=', '"', a control
// character, a non-printing or space rune or invalid UTF-8.
func appendString(b []byte, s string) []byte {
	if needsQuoting(s) {
		return appendQuoted(b, s)
	}
	return append(b, s...)
}

// appendQuoted is strconv.AppendQuote, with a faster loop for ASCII strings
// (query strings with '=' are quoted on many lines).
func appendQuoted(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return strconv.AppendQuote(b, s)
		}
	}
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c >= ' ' && c < 0x7f:
			b = append(b, c)
		case c == '\a':
			b = append(b, '\\', 'a')
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\v':
			b = append(b, '\\', 'v')
		default: // other controls and DEL
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
		}
	}
	return append(b, '"')
}

func needsQuoting(s string) bool {
	if len(s) == 0 {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			// Backslash and DEL pass; space, '=', '"' and controls do not.
			if c <= ' ' || c == '=' || c == '"' {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// bytesString views b as a string for the duration of a call that does not
// keep it.
func bytesString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
