package host

import (
	"log/slog"
	"time"

	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/wasm/abi"
)

// proxy_log(level, ptr, len)
func hLog(v *vm, s []uint64) abi.Status {
	level := slogLevel(abi.LogLevel(s[0]))
	ctx := v.p.ctx
	// The bounds are checked even when nothing is logged (a view, no
	// copy): a bad pointer is InvalidMemoryAccess whatever the log level.
	raw, ok := v.read(s[1], s[2])
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	if !v.p.log.Enabled(ctx, level) && (v.cur == nil || v.cur.x == nil || v.cur.x.Log == nil) {
		return abi.StatusOK // not cut: nothing is logged
	}
	msg, cut := cutLine(raw, v.p.cfg.Limits.LogLine)
	if cut {
		v.limitExceeded("max_log_line", slog.Int("bytes", len(raw)))
	}
	c := v.cur
	if c == nil {
		if v.p.log.Enabled(ctx, level) {
			v.p.log.LogAttrs(ctx, level, msg)
		}
		return abi.StatusOK
	}
	if x := c.x; x != nil {
		if x.Log != nil {
			if x.Log.Enabled(ctx, level) {
				x.Log.LogAttrs(ctx, level, msg,
					slog.String("plugin", v.p.cfg.Name), slog.Uint64("context_id", uint64(c.id)))
			}
			return abi.StatusOK
		}
		if v.p.log.Enabled(ctx, level) {
			method, path := x.RequestLine()
			v.p.log.LogAttrs(ctx, level, msg, slog.Uint64("context_id", uint64(c.id)),
				slog.String("client", x.Client),
				slog.String("request", string(method)+" "+string(path)+" "+x.Req.Proto),
				slog.String("host", string(x.Req.Authority)),
				slog.String("upstream", x.Upstream))
		}
		return abi.StatusOK
	}
	if v.p.log.Enabled(ctx, level) {
		v.p.log.LogAttrs(ctx, level, msg, slog.Uint64("context_id", uint64(c.id)))
	}
	return abi.StatusOK
}

// proxy_get_log_level(*level)
func hGetLogLevel(v *vm, s []uint64) abi.Status {
	if !v.writeU32(s[0], uint32(v.p.level)) {
		return abi.StatusInvalidMemoryAccess
	}
	return abi.StatusOK
}

// proxy_get_current_time_nanoseconds(*u64)
func hCurrentTime(v *vm, s []uint64) abi.Status {
	if !v.inst.WriteUint64(uint32(s[0]), uint64(time.Now().UnixNano())) {
		return abi.StatusInvalidMemoryAccess
	}
	return abi.StatusOK
}

// proxy_set_tick_period_milliseconds(period): on the current root context
// (a stream's calls act on its root, as in Envoy).
func hSetTickPeriod(v *vm, s []uint64) abi.Status {
	if v.cur == nil {
		return abi.StatusBadArgument
	}
	v.setTick(v.cur.rootOf(), time.Duration(uint32(s[0]))*time.Millisecond)
	return abi.StatusOK
}

// proxy_set_effective_context(id)
func hSetEffectiveContext(v *vm, s []uint64) abi.Status {
	c := v.ctxs[uint32(s[0])]
	if c == nil || c.deleted {
		return abi.StatusBadArgument
	}
	v.cur = c
	return abi.StatusOK
}

// proxy_done(): the host does not keep contexts alive after on_done, so
// there is nothing to wait for.
func hDone(*vm, []uint64) abi.Status { return abi.StatusOK }

// stream returns the current stream context or nil.
func (v *vm) stream() *hctx {
	if c := v.cur; c != nil && c.x != nil && !c.deleted {
		return c
	}
	return nil
}

// proxy_send_local_response(status, details, details_len, body, body_len,
// headers, headers_len, grpc_status)
func hSendLocalResponse(v *vm, s []uint64) abi.Status {
	c := v.stream()
	if c == nil {
		return abi.StatusBadArgument
	}
	details, ok1 := v.read(s[1], s[2])
	body, ok2 := v.read(s[3], s[4])
	hdrs, ok3 := v.read(s[5], s[6])
	if !ok1 || !ok2 || !ok3 {
		return abi.StatusInvalidMemoryAccess
	}
	status := int(uint32(s[0]))
	if status < 100 || status > 999 {
		return abi.StatusBadArgument
	}
	lr := &filter.LocalResponse{Status: status, Details: string(details)}
	if len(body) > 0 {
		lr.Body = append([]byte(nil), body...)
	}
	if err := abi.DecodeMap(hdrs, func(k, val []byte) { lr.Header.Add(k, val) }); err != nil {
		return abi.StatusParseFailure
	}
	c.x.SendLocalResponse(lr)
	return abi.StatusOK
}

func (v *vm) resume(t abi.StreamType) abi.Status {
	c := v.stream()
	if c == nil {
		return abi.StatusBadArgument
	}
	switch t {
	case abi.StreamRequest, abi.StreamResponse:
		c.x.Resume()
		return abi.StatusOK
	}
	return abi.StatusUnimplemented
}

// proxy_continue_stream(type)
func hContinueStream(v *vm, s []uint64) abi.Status { return v.resume(abi.StreamType(s[0])) }

// proxy_continue_request() (0.1.0)
func hContinueRequest(v *vm, _ []uint64) abi.Status { return v.resume(abi.StreamRequest) }

// proxy_continue_response() (0.1.0)
func hContinueResponse(v *vm, _ []uint64) abi.Status { return v.resume(abi.StreamResponse) }

// proxy_close_stream(type): the stream ends now; the proxy answers 500 or,
// when the response has started, aborts it.
func hCloseStream(v *vm, s []uint64) abi.Status {
	c := v.stream()
	if c == nil {
		return abi.StatusBadArgument
	}
	switch abi.StreamType(s[0]) {
	case abi.StreamRequest, abi.StreamResponse:
		c.x.SendLocalResponse(&filter.LocalResponse{Status: 500, Details: "stream closed by wasm plugin " + v.p.cfg.Name})
		return abi.StatusOK
	}
	return abi.StatusUnimplemented
}

// proxy_clear_route_cache() (0.1.0): routing happened before the filters;
// accepted as a no-op.
func hClearRouteCache(*vm, []uint64) abi.Status { return abi.StatusOK }

// proxy_get_status(*code, *msg_ptr, *msg_len): the status of the last
// outbound call answer.
func hGetStatus(v *vm, s []uint64) abi.Status {
	if !v.writeU32(s[0], v.statusCode) {
		return abi.StatusInvalidMemoryAccess
	}
	return v.copyOut(v.statusMsg, s[1], s[2])
}
