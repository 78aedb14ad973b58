package host

import (
	"errors"
	"log/slog"

	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/wasm/abi"
	"github.com/heimdallgw/heimdall/internal/wasm/engine"
)

// stream is the StreamFilter of one request on one plugin configuration.
// It stays on the instance (slot generation) that created its context.
type stream struct {
	f      *Factory
	slot   *engine.Slot
	gen    uint64
	c      *hctx
	x      *filter.Exchange
	phases filter.Phase
	// skip: phases whose callbacks the guest declared no-ops for this
	// stream (heimdall_callbacks_v1); skipDone: proxy_on_done too.
	skip     filter.Phase
	skipDone bool
	// dead: the instance trapped or was replaced; only OnDone runs.
	dead bool
	// APISIX: the plugin asked for the bodies (BodyOnRequestProperty).
	wantReqBody, wantRespBody bool
	done                      bool
}

var errLost = errors.New("the plugin instance serving this stream was replaced after a failure")

// Phases implements filter.StreamFilter.
func (s *stream) Phases() filter.Phase {
	if s.dead {
		return filter.PhaseDone
	}
	ph := s.phases
	if s.f.p.cfg.BodyMode == BodyOnRequestProperty {
		if s.wantReqBody && s.f.p.exports.reqBody {
			ph |= filter.PhaseRequestBody
		}
		if s.wantRespBody && s.f.p.exports.respBody {
			ph |= filter.PhaseResponseBody
		}
	}
	return ph &^ s.skip
}

// enter locks the stream's slot; nil when its instance is gone.
func (s *stream) enter() *vm {
	inst := s.slot.LockExisting()
	if inst == nil || inst.Gen != s.gen || s.c.deleted {
		return nil
	}
	return s.f.p.vmOf(inst)
}

// fail ends the plugin's part in the stream after a failure, per the
// plugin's FailurePolicy: fail closed answers 503 (or aborts a started
// response, which the proxy does for a local response after
// ResponseStarted); fail open lets the request go on without the plugin.
func (s *stream) fail(details string) {
	s.dead = true
	p := s.f.p
	p.failed.Add(1)
	if p.cfg.FailurePolicy == FailOpen {
		p.log.LogAttrs(p.ctx, slog.LevelWarn, "wasm plugin failed; request continues without it (failure_policy fail_open)",
			append(requestAttrs(s.x), slog.String("error", details))...)
		s.x.Resume() // a stream paused on the plugin goes on
		return
	}
	s.x.SendLocalResponse(p.closedResponse(details))
}

type cbSel func(*callbacks) engine.Function

var (
	selReqHeaders   cbSel = func(c *callbacks) engine.Function { return c.onReqHeaders }
	selReqBody      cbSel = func(c *callbacks) engine.Function { return c.onReqBody }
	selReqTrailers  cbSel = func(c *callbacks) engine.Function { return c.onReqTrailers }
	selRespHeaders  cbSel = func(c *callbacks) engine.Function { return c.onRespHeaders }
	selRespBody     cbSel = func(c *callbacks) engine.Function { return c.onRespBody }
	selRespTrailers cbSel = func(c *callbacks) engine.Function { return c.onRespTrailers }
	selLog          cbSel = func(c *callbacks) engine.Function { return c.onLog }
)

// run calls one HTTP callback and maps its result to an Action.
func (s *stream) run(sel cbSel, name string, body *filter.Body, bt abi.BufferType, a1, a2 uint64) filter.Action {
	if s.dead {
		return filter.Continue
	}
	v := s.enter()
	defer s.slot.Unlock()
	if v == nil {
		s.fail(errLost.Error())
		return filter.Continue
	}
	v.body, v.bodyType = body, bt
	r, err := v.call(sel(&v.fn), s.c, uint64(s.c.id), a1, a2)
	v.body = nil
	if err != nil {
		v.trapped(s.c, name, err)
		s.fail(name + " failed")
		return filter.Continue
	}
	if uint32(r) != uint32(abi.ActionContinue) {
		return filter.Pause
	}
	return filter.Continue
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// OnRequestHeaders implements filter.StreamFilter.
func (s *stream) OnRequestHeaders(x *filter.Exchange, eos bool) filter.Action {
	return s.run(selReqHeaders, "proxy_on_request_headers", nil, 0, uint64(4+x.Req.Header.Len()), b2u(eos))
}

// OnRequestBody implements filter.StreamFilter.
func (s *stream) OnRequestBody(x *filter.Exchange, body *filter.Body, eos bool) filter.Action {
	return s.run(selReqBody, "proxy_on_request_body", body, abi.BufferHTTPRequestBody, uint64(body.Len()), b2u(eos))
}

// OnRequestTrailers implements filter.StreamFilter.
func (s *stream) OnRequestTrailers(x *filter.Exchange) filter.Action {
	return s.run(selReqTrailers, "proxy_on_request_trailers", nil, 0, uint64(x.Req.Trailer.Len()), 0)
}

// OnResponseHeaders implements filter.StreamFilter.
func (s *stream) OnResponseHeaders(x *filter.Exchange, eos bool) filter.Action {
	return s.run(selRespHeaders, "proxy_on_response_headers", nil, 0, uint64(1+x.Resp.Header.Len()), b2u(eos))
}

// OnResponseBody implements filter.StreamFilter.
func (s *stream) OnResponseBody(x *filter.Exchange, body *filter.Body, eos bool) filter.Action {
	return s.run(selRespBody, "proxy_on_response_body", body, abi.BufferHTTPResponseBody, uint64(body.Len()), b2u(eos))
}

// OnResponseTrailers implements filter.StreamFilter.
func (s *stream) OnResponseTrailers(x *filter.Exchange) filter.Action {
	return s.run(selRespTrailers, "proxy_on_response_trailers", nil, 0, uint64(x.Resp.Trailer.Len()), 0)
}

// OnLog implements filter.StreamFilter.
func (s *stream) OnLog(x *filter.Exchange) {
	if s.dead {
		return
	}
	v := s.enter()
	defer s.slot.Unlock()
	if v == nil {
		s.dead = true
		return
	}
	if err := v.callCtx(v.fn.onLog, s.c, uint64(s.c.id)); err != nil {
		v.trapped(s.c, "proxy_on_log", err)
		s.dead = true
	}
}

// OnDone implements filter.StreamFilter: proxy_on_done then proxy_on_delete.
// A plugin answering false to on_done (wait for proxy_done) is not waited
// for: the stream is over when the filter chain is.
func (s *stream) OnDone(x *filter.Exchange) {
	if s.done {
		return
	}
	s.done = true
	v := s.enter()
	defer s.slot.Unlock()
	if v == nil {
		return
	}
	c := s.c
	if !s.dead {
		var err error
		if !s.skipDone {
			_, err = v.call(v.fn.onDone, c, uint64(c.id))
		}
		if err != nil {
			v.trapped(c, "proxy_on_done", err)
		} else if err := v.callCtx(v.fn.onDelete, c, uint64(c.id)); err != nil {
			v.trapped(c, "proxy_on_delete", err)
		}
	}
	c.deleted = true
	delete(v.ctxs, c.id)
	v.live--
	r := c.root
	r.streams--
	if r.closing && r.streams == 0 && !v.inst.Broken() {
		v.deleteRoot(r)
	}
	if v.inst.Broken() {
		return
	}
	if !s.dead {
		v.inst.Healthy()
	}
	// Wasm memory never shrinks: an instance that grew past its recycle
	// threshold is replaced once no stream uses it.
	if v.live == 0 && v.inst.OverMemory() {
		p := s.f.p
		p.log.LogAttrs(p.ctx, slog.LevelInfo, "wasm plugin instance recycled: its memory grew past the threshold",
			append(requestAttrs(x), slog.Uint64("memory_bytes", uint64(v.inst.MemorySize())))...)
		v.inst.Retire()
	}
}

var _ filter.StreamFilter = (*stream)(nil)

// BufferLimit implements filter.BufferLimiter: the plugin's own
// body_buffer_limit, 0 for the gateway's.
func (s *stream) BufferLimit() int { return s.f.p.cfg.Limits.BodyBuffer }

var _ filter.BufferLimiter = (*stream)(nil)
