package filter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"
)

// Options tune a Chain.
type Options struct {
	// BufferLimit caps the bytes one filter may hold buffered by pausing on
	// body chunks. Beyond it a request fails with 413 and a response with
	// 500, as in Envoy. Zero means DefaultBufferLimit.
	BufferLimit int
	// PauseTimeout bounds how long a stream waits for a filter that paused
	// it to resume it. Zero means no bound other than the context.
	PauseTimeout time.Duration
	// Log receives a line for a filter that panicked (the request fails
	// with 500); nil discards it.
	Log *slog.Logger
}

// BufferLimiter is implemented by a StreamFilter with its own body buffer
// limit (a per-plugin override of Options.BufferLimit); 0 = the Chain's.
type BufferLimiter interface {
	BufferLimit() int
}

// ErrFilterPanic is wrapped by the error a Chain method returns when a
// filter panicked; the request then fails with 500.
var ErrFilterPanic = errors.New("filter panicked")

// DefaultBufferLimit is the per-filter body buffer limit when none is set.
const DefaultBufferLimit = 16 << 20

type entry struct {
	f      StreamFilter
	name   string
	phases Phase
	limit  int // body buffer limit
	// buffered body per direction while the filter pauses on chunks
	reqBuf, respBuf []byte
}

// Chain runs the filters of one request in order.
//
// Body rules (proxy-wasm as Envoy behaves): each chunk goes to the first
// filter that wants body callbacks; what it lets through (possibly rewritten)
// goes to the next. A filter that pauses on a chunk that is not the last gets
// nothing forwarded past it; the next chunk is appended to its buffer and it
// is called again with the whole buffer. Requests without a body get no body
// callback: the headers callback sees endOfStream instead.
type Chain struct {
	x       *Exchange
	filters []entry
	opts    Options
	cur     int // the filter being called, for a panic's log line
}

// NewChain asks each factory for its filter. The returned Chain is usable
// even when err is not nil (it holds the filters created so far), so callers
// always call Done.
func NewChain(x *Exchange, factories []Factory, opts Options) (c *Chain, err error) {
	if opts.BufferLimit <= 0 {
		opts.BufferLimit = DefaultBufferLimit
	}
	c = &Chain{x: x, opts: opts, cur: -1}
	if len(factories) > 0 {
		c.filters = make([]entry, 0, len(factories))
	}
	var name string
	defer func() {
		if r := recover(); r != nil {
			err = c.panicked(r, name, "creating the stream filter")
		}
	}()
	for _, fac := range factories {
		name = fac.Name()
		f, err := fac.NewStreamFilter(x)
		if err != nil {
			return c, &StatusError{Status: 503, Msg: "plugin " + name + " is unavailable", Err: err}
		}
		if f != nil {
			e := entry{f: f, name: name, phases: f.Phases(), limit: opts.BufferLimit}
			if bl, ok := f.(BufferLimiter); ok {
				if n := bl.BufferLimit(); n > 0 {
					e.limit = n
				}
			}
			c.filters = append(c.filters, e)
		}
	}
	return c, nil
}

// panicked turns a filter's panic into a 500 error and a log line (with
// the stack at debug level); the filter gets no more callbacks but OnDone.
func (c *Chain) panicked(r any, name, where string) error {
	if c.cur >= 0 && c.cur < len(c.filters) {
		name = c.filters[c.cur].name
		c.filters[c.cur].phases &= PhaseDone
	}
	c.cur = -1
	if l := c.opts.Log; l != nil {
		attrs := []slog.Attr{slog.String("plugin", name), slog.String("route", c.x.RouteID),
			slog.String("where", where), slog.Any("panic", r)}
		l.LogAttrs(context.Background(), slog.LevelError, "filter panicked; request failed with 500", attrs...)
		if l.Enabled(context.Background(), slog.LevelDebug) {
			l.LogAttrs(context.Background(), slog.LevelDebug, "filter panic stack",
				slog.String("plugin", name), slog.String("stack", string(debug.Stack())))
		}
	}
	return &StatusError{Status: 500, Msg: "plugin " + name + " failed", Err: fmt.Errorf("%w: %v", ErrFilterPanic, r)}
}

// guard is deferred by the Chain's methods: a panic becomes *err.
func (c *Chain) guard(err *error, where string) {
	if r := recover(); r != nil {
		*err = c.panicked(r, "", where)
	}
}

// Len is the number of active filters.
func (c *Chain) Len() int { return len(c.filters) }

// Exchange returns the exchange the chain runs on.
func (c *Chain) Exchange() *Exchange { return c.x }

// WantsRequestBody reports whether any filter handles request body chunks;
// when none does the proxy may stream the body untouched.
func (c *Chain) WantsRequestBody() bool { return c.wants(PhaseRequestBody) }

// WantsResponseBody is WantsRequestBody for the response.
func (c *Chain) WantsResponseBody() bool { return c.wants(PhaseResponseBody) }

// WantsRequestTrailers reports whether any filter handles request trailers.
func (c *Chain) WantsRequestTrailers() bool { return c.wants(PhaseRequestTrailers) }

// WantsResponseTrailers reports whether any filter handles response trailers.
func (c *Chain) WantsResponseTrailers() bool { return c.wants(PhaseResponseTrailers) }

func (c *Chain) wants(p Phase) bool {
	for i := range c.filters {
		if c.filters[i].phases&p != 0 {
			return true
		}
	}
	return false
}

// stopped reports whether a filter sent a local response.
func (c *Chain) stopped() bool { return c.x.LocalResponse() != nil }

// drain drops a stale wake-up: a Resume issued while the stream was not
// paused must not release a later pause.
func (c *Chain) drain() {
	select {
	case <-c.x.wakeChan():
	default:
	}
}

// wait blocks until the paused stream is resumed or a local response is sent.
func (c *Chain) wait(ctx context.Context) error {
	wake := c.x.wakeChan()
	if c.opts.PauseTimeout > 0 {
		t := time.NewTimer(c.opts.PauseTimeout)
		defer t.Stop()
		select {
		case <-wake:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return ErrPauseTimeout
		}
	}
	select {
	case <-wake:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// after handles a callback's action: wait on Pause, drop stale wake-ups on
// Continue. It reports whether the chain must stop (local response).
func (c *Chain) after(ctx context.Context, a Action) (stop bool, err error) {
	if c.stopped() {
		return true, nil
	}
	if a == Pause {
		if err := c.wait(ctx); err != nil {
			return false, err
		}
		return c.stopped(), nil
	}
	c.drain()
	return false, nil
}

// RequestHeaders runs the request headers callbacks in filter order. After it
// returns, the caller checks Exchange.LocalResponse.
func (c *Chain) RequestHeaders(ctx context.Context, endOfStream bool) (err error) {
	defer c.guard(&err, "request headers")
	for i := range c.filters {
		e := &c.filters[i]
		if e.phases&PhaseRequestHeaders == 0 {
			continue
		}
		c.cur = i
		a := e.f.OnRequestHeaders(c.x, endOfStream)
		e.phases = e.f.Phases()
		if stop, err := c.after(ctx, a); stop || err != nil {
			return err
		}
	}
	return nil
}

// ResponseHeaders runs the response headers callbacks in reverse order.
func (c *Chain) ResponseHeaders(ctx context.Context, endOfStream bool) (err error) {
	defer c.guard(&err, "response headers")
	for i := len(c.filters) - 1; i >= 0; i-- {
		e := &c.filters[i]
		if e.phases&PhaseResponseHeaders == 0 {
			continue
		}
		c.cur = i
		a := e.f.OnResponseHeaders(c.x, endOfStream)
		e.phases = e.f.Phases()
		if stop, err := c.after(ctx, a); stop || err != nil {
			return err
		}
	}
	return nil
}

// RequestBody passes one chunk of the request body through the filters and
// returns what is to be forwarded upstream now (possibly nothing while a
// filter buffers). The returned slice may alias chunk or a filter buffer and
// is valid until the next call. When a local response was sent the caller
// sees it on the Exchange and must stop forwarding.
func (c *Chain) RequestBody(ctx context.Context, chunk []byte, endOfStream bool) (_ []byte, err error) {
	defer c.guard(&err, "request body")
	data := chunk
	for i := range c.filters {
		e := &c.filters[i]
		if e.phases&PhaseRequestBody == 0 {
			continue
		}
		c.cur = i
		out, pass, err := c.body(ctx, e, &e.reqBuf, data, endOfStream, true)
		if err != nil || !pass {
			return nil, err
		}
		data = out
	}
	return data, nil
}

// ResponseBody is RequestBody for the response, in reverse filter order.
func (c *Chain) ResponseBody(ctx context.Context, chunk []byte, endOfStream bool) (_ []byte, err error) {
	defer c.guard(&err, "response body")
	data := chunk
	for i := len(c.filters) - 1; i >= 0; i-- {
		e := &c.filters[i]
		if e.phases&PhaseResponseBody == 0 {
			continue
		}
		c.cur = i
		out, pass, err := c.body(ctx, e, &e.respBuf, data, endOfStream, false)
		if err != nil || !pass {
			return nil, err
		}
		data = out
	}
	return data, nil
}

// body runs one filter's body callback. pass is false when nothing goes on
// to the next filter (buffering, or a local response).
func (c *Chain) body(ctx context.Context, e *entry, buf *[]byte, data []byte, eos, request bool) (out []byte, pass bool, err error) {
	var b Body
	buffered := len(*buf) > 0
	if buffered {
		*buf = append(*buf, data...)
		b.B = *buf
	} else {
		b.B = data
	}
	if len(b.B) > e.limit {
		if request {
			return nil, false, ErrRequestBodyTooLarge
		}
		return nil, false, ErrResponseBodyTooLarge
	}
	var a Action
	if request {
		a = e.f.OnRequestBody(c.x, &b, eos)
	} else {
		a = e.f.OnResponseBody(c.x, &b, eos)
	}
	if c.stopped() {
		return nil, false, nil
	}
	if a == Pause && !eos {
		// Keep everything so far (copying out of the caller's chunk, which
		// it reuses) and call again with more.
		// An empty buffer needs no mark: the next chunk alone is then the
		// whole buffer so far.
		*buf = append((*buf)[:0], b.B...)
		return nil, false, nil
	}
	if stop, err := c.after(ctx, a); stop || err != nil {
		return nil, false, err
	}
	*buf = (*buf)[:0]
	return b.B, true, nil
}

// RequestTrailers runs the request trailers callbacks. Bodies that filters
// held buffered are released by the end of the stream; the bytes to forward
// before the trailers are returned.
func (c *Chain) RequestTrailers(ctx context.Context) (_ []byte, err error) {
	defer c.guard(&err, "request trailers")
	return c.trailers(ctx, true)
}

// ResponseTrailers is RequestTrailers for the response, in reverse order.
func (c *Chain) ResponseTrailers(ctx context.Context) (_ []byte, err error) {
	defer c.guard(&err, "response trailers")
	return c.trailers(ctx, false)
}

func (c *Chain) trailers(ctx context.Context, request bool) ([]byte, error) {
	var flushed []byte
	n := len(c.filters)
	for k := 0; k < n; k++ {
		i := k
		if !request {
			i = n - 1 - k
		}
		e := &c.filters[i]
		buf := &e.respBuf
		phase := PhaseResponseTrailers
		if request {
			buf = &e.reqBuf
			phase = PhaseRequestTrailers
		}
		// What earlier filters released joins this filter's buffer.
		if len(*buf) > 0 {
			*buf = append(*buf, flushed...)
			flushed = append(flushed[:0:0], *buf...)
			*buf = (*buf)[:0]
		}
		if e.phases&phase == 0 {
			continue
		}
		c.cur = i
		var a Action
		if request {
			a = e.f.OnRequestTrailers(c.x)
		} else {
			a = e.f.OnResponseTrailers(c.x)
		}
		if stop, err := c.after(ctx, a); stop || err != nil {
			return nil, err
		}
	}
	return flushed, nil
}

// Log runs the log callbacks (in filter order, as Envoy does). A filter
// that panics is logged and the others still run.
func (c *Chain) Log() {
	for i := range c.filters {
		if c.filters[i].phases&PhaseLog != 0 {
			c.call(i, "log", func(f StreamFilter) { f.OnLog(c.x) })
		}
	}
}

// Done releases every filter. Call it exactly once per Chain. A filter
// that panics is logged and the others are still released.
func (c *Chain) Done() {
	for i := range c.filters {
		c.call(i, "done", func(f StreamFilter) { f.OnDone(c.x) })
		c.filters[i] = entry{}
	}
	c.filters = c.filters[:0]
}

// call runs fn on filter i, logging a panic instead of propagating it.
func (c *Chain) call(i int, where string, fn func(StreamFilter)) {
	var err error
	defer c.guard(&err, where)
	c.cur = i
	fn(c.filters[i].f)
	c.cur = -1
}
