package proxy

import (
	"time"

	"github.com/heimdallgw/heimdall/internal/filter"
)

// Observer is told about every request once it ended, for metrics. It is
// called from Stream.Close on the request's goroutine, after the access log,
// so it must be cheap and must not keep the Observation.
//
// Options.Observer sees the requests no route matched; a Route's own
// Observer (set when the route table is built, so it can hold series
// already resolved for that route) sees the route's requests.
type Observer interface {
	ObserveRequest(o *Observation)
}

// Observation is what one finished request measured: the values the access
// log writes, plus sizes and upstream time.
type Observation struct {
	// X is the request's exchange (route id, node address, methods, ...).
	X *filter.Exchange
	// Status is the status sent downstream (nginx's $status), also when
	// the response body failed after the head (the access log writes 0
	// then; X.ResponseStarted and a short ResponseBytes tell).
	Status int
	// RequestBytes approximates nginx's $request_length: request line and
	// header fields as received (HTTP/1.1 framing, also for HTTP/2) plus
	// the body bytes read from the client.
	RequestBytes int64
	// ResponseBytes approximates nginx's $bytes_sent: status line and the
	// header fields the proxy handed to the engine, plus the body bytes
	// sent. Fields the engine adds itself (Date, Server, framing) are not
	// counted.
	ResponseBytes int64
	// Duration is the whole request, from X.Start to the end of the response.
	Duration time.Duration
	// Upstream is the time from the first upstream attempt to the end of
	// the response (nginx's $upstream_response_time, which ends when the
	// upstream response was read; streamed, that is the end of the
	// response); valid when Upstreamed.
	Upstream   time.Duration
	Upstreamed bool
}

// beginObserve is called by Serve before routing: it picks the observer
// and measures the request head as received, before filters change it.
func (s *Stream) beginObserve() {
	s.obs = s.p.opts.Observer
	if s.obs == nil {
		return
	}
	x := &s.X
	n := len(x.OrigMethod) + 1 + len(x.OrigPath) + 1 + len(x.Req.Proto) + 2 + 2
	if _, ok := x.Req.Header.Get("host"); !ok && len(x.Req.Authority) > 0 {
		n += len("host: \r\n") + len(x.Req.Authority) // HTTP/2 :authority
	}
	for _, f := range x.Req.Header.Fields() {
		n += len(f.Name) + len(f.Value) + 4
	}
	s.reqHead = int64(n)
}

// observe reports the ended request to its observer.
func (s *Stream) observe() {
	x := &s.X
	end := time.Now()
	respHead := len(x.Req.Proto) + 1 + 3 + 1 + len(httpStatusText(x.Resp.Status)) + 2 + 2
	for _, f := range x.Resp.Header.Fields() {
		respHead += len(f.Name) + len(f.Value) + 4
	}
	// A Stream field, not a local: passed through an interface, a local
	// would escape and cost an allocation per request.
	o := &s.obsv
	*o = Observation{
		X:             x,
		Status:        x.Resp.Status,
		RequestBytes:  s.reqHead + s.reqPump.n,
		ResponseBytes: int64(respHead) + s.bytesSent,
		Duration:      end.Sub(x.Start),
	}
	if !s.upStart.IsZero() {
		o.Upstream, o.Upstreamed = end.Sub(s.upStart), true
	}
	s.obs.ObserveRequest(o)
	*o = Observation{}
}
