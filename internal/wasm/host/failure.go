package host

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/wasm/engine"
)

// FailurePolicy is what a request gets when its plugin fails on it: a
// trap, a callback past its deadline, a memory limit, an instance that
// could not be made or that waits out a backoff after failures.
//
// The names are Envoy's (PluginConfig.failure_policy FAIL_CLOSED /
// FAIL_OPEN; Higress and Istio call them failStrategy FAIL_CLOSE /
// FAIL_OPEN). The failed instance is always discarded and replaced, which
// is Envoy's FAIL_RELOAD for the instance, so there is no third policy:
// with backoff (engine.Config.BackoffBase) and a rate limit on
// replacements, as Envoy's ReloadConfig.backoff.
type FailurePolicy string

// Failure policies.
const (
	// FailClosed answers the request 503 with a JSON body that names no
	// internals (as the gateway's other errors); a response already
	// started is aborted. The default.
	FailClosed FailurePolicy = "fail_closed"
	// FailOpen skips the plugin for the rest of the request (and logs
	// it): the request goes on as if the plugin were not configured.
	FailOpen FailurePolicy = "fail_open"
)

// unavailableBody is the body of a fail-closed answer.
var unavailableBody = []byte(`{"error_msg":"503 Service Unavailable"}` + "\n")

// closedResponse is the local response of a fail-closed request.
func (p *Plugin) closedResponse(details string) *filter.LocalResponse {
	lr := &filter.LocalResponse{Status: 503, Body: unavailableBody, Details: "wasm plugin " + p.cfg.Name + ": " + details}
	lr.Header.AddString("content-type", "application/json")
	return lr
}

// unavailable is NewStreamFilter's answer when no instance can take the
// stream: an error (503, fail closed) or no filter (fail open).
func (p *Plugin) unavailable(x *filter.Exchange, err error) (filter.StreamFilter, error) {
	p.failed.Add(1)
	if errors.Is(err, engine.ErrClosed) || p.cfg.FailurePolicy != FailOpen {
		p.logFailure(x, "wasm plugin unavailable; request refused (failure_policy fail_closed)", err)
		return nil, err
	}
	p.logFailure(x, "wasm plugin unavailable; request continues without it (failure_policy fail_open)", err)
	return nil, nil
}

// logFailure logs a request the plugin failed, with the route. A plugin in
// backoff is logged at most once a second (every refused request would
// otherwise log a line).
func (p *Plugin) logFailure(x *filter.Exchange, msg string, err error) {
	if errors.Is(err, engine.ErrBackoff) && !p.rateOK() {
		return
	}
	attrs := append(requestAttrs(x), slog.Any("error", err))
	p.log.LogAttrs(p.ctx, slog.LevelWarn, msg, attrs...)
}

// rateOK is true at most once a second (limitLogAt), for logs that a
// failing plugin would otherwise repeat on every request.
func (p *Plugin) rateOK() bool {
	now := time.Now().UnixNano()
	last := p.limitLogAt.Load()
	return now-last >= int64(time.Second) && p.limitLogAt.CompareAndSwap(last, now)
}

// requestAttrs name a request in a log line: route, request line, client.
func requestAttrs(x *filter.Exchange) []slog.Attr {
	if x == nil {
		return nil
	}
	method, path := x.RequestLine()
	return []slog.Attr{
		slog.String("route", x.RouteID),
		slog.String("request", string(method)+" "+string(path)),
		slog.String("client", x.Client),
	}
}

// limitExceeded counts and logs (rate-limited) a plugin exceeding one of
// its Limits; the host function then fails with the status it returns.
func (v *vm) limitExceeded(what string, attrs ...slog.Attr) {
	p := v.p
	p.limitHits.Add(1)
	if !p.rateOK() {
		return
	}
	attrs = append(attrs, slog.String("limit", what))
	if c := v.stream(); c != nil {
		attrs = append(attrs, requestAttrs(c.x)...)
	}
	p.log.LogAttrs(context.Background(), slog.LevelWarn, "wasm plugin exceeded a limit; host call refused", attrs...)
}

// wakeStreams ends what the streams of a discarded instance wait for: each
// follows the failure policy (fail closed: a 503; fail open: it resumes
// and goes on without the plugin). Their next callback finds the instance
// gone (stream.enter) and marks them dead.
func (p *Plugin) wakeStreams(v *vm) {
	for _, c := range v.ctxs {
		// dead: the stream already failed (its own callback trapped);
		// written with the slot locked, as here.
		if c.x == nil || c.deleted || c.s == nil || c.s.dead {
			continue
		}
		p.failed.Add(1)
		if p.cfg.FailurePolicy == FailOpen {
			c.x.Resume()
		} else {
			c.x.SendLocalResponse(p.closedResponse(errLost.Error()))
		}
	}
}
