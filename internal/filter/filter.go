// Package filter is the contract between the proxy and the code that runs on
// each request: built-in plugins (proxy-rewrite) and wasm plugins alike.
//
// A route owns an ordered list of Factories (higher plugin priority first).
// For each request the proxy creates an Exchange and a Chain; the Chain asks
// every Factory for a StreamFilter and then drives the callbacks in proxy-wasm
// order: request headers, request body chunks, request trailers in filter
// order, then response headers, body and trailers in reverse order, then log
// and done. The Chain implements the buffering rules of the proxy-wasm ABI as
// Envoy behaves (see Chain), so filters only decide Continue or Pause.
//
// This package must not import an HTTP engine or the wasm runtime.
package filter

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/heimdallgw/heimdall/internal/httpcore"
)

// Action is a filter's answer to a callback.
type Action int

const (
	// Continue passes the data on to the next filter.
	Continue Action = iota
	// Pause on headers holds the stream until the filter calls
	// Exchange.Resume or Exchange.SendLocalResponse. Pause on a body chunk
	// that is not the last asks for more: the Chain buffers and calls again
	// with the whole buffer so far. Pause on the last chunk holds the stream
	// as on headers.
	Pause
)

// Phase names the callbacks, as a bit set of the phases a filter handles.
type Phase uint16

const (
	PhaseRequestHeaders Phase = 1 << iota
	PhaseRequestBody
	PhaseRequestTrailers
	PhaseResponseHeaders
	PhaseResponseBody
	PhaseResponseTrailers
	PhaseLog
	PhaseDone

	PhaseAll = PhaseRequestHeaders | PhaseRequestBody | PhaseRequestTrailers |
		PhaseResponseHeaders | PhaseResponseBody | PhaseResponseTrailers | PhaseLog | PhaseDone
)

// Body is the body buffer a filter sees in a body callback: the current chunk,
// or everything buffered so far after a Pause. A filter may rewrite it.
type Body struct {
	B []byte
}

// Bytes returns the buffered bytes.
func (b *Body) Bytes() []byte { return b.B }

// Len is the buffered size.
func (b *Body) Len() int { return len(b.B) }

// Splice replaces B[start:start+n] with data; start and n are clamped to
// the buffer (proxy-wasm set_buffer_bytes semantics: start 0 with n 0
// prepends, start len(B) appends, start 0 with n len(B) replaces).
func (b *Body) Splice(start, n int, data []byte) {
	if start < 0 {
		start = 0
	}
	if start > len(b.B) {
		start = len(b.B)
	}
	end := start + n
	if n < 0 || end > len(b.B) {
		end = len(b.B)
	}
	tail := len(b.B) - end
	newLen := start + len(data) + tail
	if newLen > cap(b.B) {
		nb := make([]byte, newLen, newLen+newLen/4)
		copy(nb, b.B[:start])
		copy(nb[start+len(data):], b.B[end:])
		copy(nb[start:], data)
		b.B = nb
		return
	}
	old := b.B
	b.B = b.B[:newLen]
	copy(b.B[start+len(data):], old[end:end+tail])
	copy(b.B[start:], data)
}

// StreamFilter handles one request. All callbacks of one stream are called
// from the request's goroutine, one at a time.
type StreamFilter interface {
	// Phases tells which callbacks the filter wants. The Chain asks again
	// after each headers callback, so a filter can opt into body callbacks
	// after seeing the headers.
	Phases() Phase
	OnRequestHeaders(x *Exchange, endOfStream bool) Action
	OnRequestBody(x *Exchange, body *Body, endOfStream bool) Action
	OnRequestTrailers(x *Exchange) Action
	OnResponseHeaders(x *Exchange, endOfStream bool) Action
	OnResponseBody(x *Exchange, body *Body, endOfStream bool) Action
	OnResponseTrailers(x *Exchange) Action
	// OnLog runs after the response is complete (or the stream failed).
	OnLog(x *Exchange)
	// OnDone releases the filter's per-stream state; always called once.
	OnDone(x *Exchange)
}

// Factory makes the StreamFilter of one configured plugin on one route.
// A Factory may also implement io.Closer; the gateway closes it when the
// configuration that created it is no longer served.
type Factory interface {
	// Name is the plugin name, for logs and errors.
	Name() string
	// NewStreamFilter returns the filter for x, or nil when the plugin has
	// nothing to do for this request. An error fails the request with 503
	// (fail closed).
	NewStreamFilter(x *Exchange) (StreamFilter, error)
}

// Base implements every StreamFilter callback as a no-op Continue; embed it
// and override what you need.
type Base struct{}

func (Base) Phases() Phase                                { return PhaseAll }
func (Base) OnRequestHeaders(*Exchange, bool) Action      { return Continue }
func (Base) OnRequestBody(*Exchange, *Body, bool) Action  { return Continue }
func (Base) OnRequestTrailers(*Exchange) Action           { return Continue }
func (Base) OnResponseHeaders(*Exchange, bool) Action     { return Continue }
func (Base) OnResponseBody(*Exchange, *Body, bool) Action { return Continue }
func (Base) OnResponseTrailers(*Exchange) Action          { return Continue }
func (Base) OnLog(*Exchange)                              {}
func (Base) OnDone(*Exchange)                             {}

// LocalResponse is a response a filter generates instead of the upstream's.
type LocalResponse struct {
	Status  int
	Header  httpcore.Header
	Body    []byte
	Details string // why, for the log (proxy-wasm "status details")
}

// Exchange is the per-request state shared by the proxy and the filters.
type Exchange struct {
	Req  httpcore.Request
	Resp httpcore.Response

	// ID is unique per request within the process.
	ID uint64
	// RequestID is the value of X-Request-Id (received or generated).
	RequestID string
	Start     time.Time
	// Client is the downstream peer "ip:port"; ClientIP its address part.
	Client   string
	ClientIP string
	// Local is the listener address that accepted the connection.
	Local string
	TLS   bool
	// RouteID and RouteName identify the matched route.
	RouteID   string
	RouteName string
	// UpstreamID is the configured upstream; Upstream the node address
	// chosen for the last attempt ("host:port"), empty before.
	UpstreamID string
	Upstream   string
	// Log is the error logger with this request's context attached.
	Log *slog.Logger

	// OrigMethod and OrigPath are the request line as received, recorded
	// by the proxy before filters (proxy-rewrite, plugins) change Req; logs
	// show them, as nginx's $request does. See RequestLine.
	OrigMethod, OrigPath []byte

	// ResponseStarted is set by the proxy once response headers were sent
	// downstream; after that a local response can only abort the stream.
	ResponseStarted bool

	// Properties set by filters (proxy-wasm set_property), by path.
	props map[string][]byte

	mu     sync.Mutex
	local  *LocalResponse
	wake   chan struct{}
	closed bool
}

// Reset prepares x for reuse from a pool.
func (x *Exchange) Reset() {
	x.Req.Reset()
	x.Resp.Reset()
	x.ID, x.RequestID, x.Start = 0, "", time.Time{}
	x.Client, x.ClientIP, x.Local, x.TLS = "", "", "", false
	x.RouteID, x.RouteName, x.UpstreamID, x.Upstream = "", "", "", ""
	x.Log = nil
	x.OrigMethod, x.OrigPath = x.OrigMethod[:0], x.OrigPath[:0]
	x.ResponseStarted = false
	clear(x.props)
	x.mu.Lock()
	x.local = nil
	x.closed = false
	if x.wake != nil {
		select {
		case <-x.wake:
		default:
		}
	}
	x.mu.Unlock()
}

// RequestLine returns the method and request-target as received, or the
// current ones when the proxy has not recorded them.
func (x *Exchange) RequestLine() (method, path []byte) {
	if len(x.OrigMethod) == 0 {
		return x.Req.Method, x.Req.Path
	}
	return x.OrigMethod, x.OrigPath
}

// Property returns a value stored with SetProperty.
func (x *Exchange) Property(path string) ([]byte, bool) {
	v, ok := x.props[path]
	return v, ok
}

// SetProperty stores a copy of v under path.
func (x *Exchange) SetProperty(path string, v []byte) {
	if x.props == nil {
		x.props = make(map[string][]byte)
	}
	x.props[path] = append([]byte(nil), v...)
}

func (x *Exchange) wakeChan() chan struct{} {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.wake == nil {
		x.wake = make(chan struct{}, 1)
	}
	return x.wake
}

// Resume continues a stream a filter paused. It may be called from any
// goroutine (for example from the completion of an asynchronous call), and
// also before the Chain starts waiting.
func (x *Exchange) Resume() {
	select {
	case x.wakeChan() <- struct{}{}:
	default:
	}
}

// SendLocalResponse replaces the upstream response with r and ends the
// filter chain. Like Resume it may be called from any goroutine. Only the
// first local response counts.
func (x *Exchange) SendLocalResponse(r *LocalResponse) {
	x.mu.Lock()
	if x.local == nil {
		x.local = r
	}
	x.mu.Unlock()
	x.Resume()
}

// LocalResponse returns the local response a filter sent, or nil.
func (x *Exchange) LocalResponse() *LocalResponse {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.local
}

// Error statuses of the Chain. Each carries the HTTP status the proxy answers.
var (
	ErrRequestBodyTooLarge  = &StatusError{Status: http.StatusRequestEntityTooLarge, Msg: "request body exceeds the plugin buffer limit"}
	ErrResponseBodyTooLarge = &StatusError{Status: http.StatusInternalServerError, Msg: "response body exceeds the plugin buffer limit"}
	ErrPauseTimeout         = &StatusError{Status: http.StatusGatewayTimeout, Msg: "a plugin paused the stream and did not resume it in time"}
)

// StatusError is an error that maps to an HTTP status.
type StatusError struct {
	Status int
	Msg    string
	Err    error
}

func (e *StatusError) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *StatusError) Unwrap() error { return e.Err }

// HTTPStatus returns the status err maps to: a StatusError's, 499 for a
// cancelled client, else 500.
func HTTPStatus(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	if errors.Is(err, context.Canceled) {
		return 499
	}
	return http.StatusInternalServerError
}
