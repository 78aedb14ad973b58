package host

import "github.com/heimdallgw/heimdall/internal/wasm/engine"

// InstanceMemory returns the linear memory size in bytes of each live
// instance, by slot (0 for a slot without one). It waits for each slot's
// running callback, so it is for tests, diagnostics and metrics scrapes,
// not for the request path.
func (p *Plugin) InstanceMemory() []uint32 {
	slots := p.eng.Slots()
	out := make([]uint32, len(slots))
	for i, s := range slots {
		if inst := s.LockExisting(); inst != nil {
			out[i] = inst.MemorySize()
		}
		s.Unlock()
	}
	return out
}

// NetworkStats counts what a plugin's outbound policy and limits refused.
type NetworkStats struct {
	// Refused counts policy refusals by operation (egress.OpHTTPCall,
	// egress.OpRedisInit, egress.OpRedisCall, and the socket functions
	// sock_connect, sock_getaddrinfo, ... when the sockets Extension shares
	// the plugin's egress.Checker, as the gateway sets it up).
	Refused map[string]uint64
	// HTTPCallsOverLimit counts proxy_http_calls refused because
	// MaxPendingHTTPCalls were waiting.
	HTTPCallsOverLimit uint64
	// HTTPCallsPending is the number of proxy_http_calls waiting now.
	HTTPCallsPending int64
}

// NetworkStats returns the plugin's network counters (a snapshot; cheap,
// safe to call from a metrics scrape).
func (p *Plugin) NetworkStats() NetworkStats {
	return NetworkStats{
		Refused:            p.egress.Refusals(),
		HTTPCallsOverLimit: p.calls.overLimit.Load(),
		HTTPCallsPending:   p.calls.pending.Load(),
	}
}

// SlotState is one instance-pool slot as a metrics scrape sees it.
type SlotState struct {
	// Busy: a callback (or an instantiation) holds the slot; Live and
	// Memory are then unknown.
	Busy bool
	// Live: the slot has an instance (else the next request creates one).
	Live bool
	// Memory is the live instance's linear memory size in bytes.
	Memory uint32
}

// InstanceStates reports every slot of the pool without waiting for a
// running callback: such a slot is Busy. For metrics scrapes.
func (p *Plugin) InstanceStates() []SlotState {
	slots := p.eng.Slots()
	out := make([]SlotState, len(slots))
	for i, s := range slots {
		inst, ok := s.TryLockExisting()
		if !ok {
			out[i].Busy = true
			continue
		}
		if inst != nil {
			out[i].Live, out[i].Memory = true, inst.MemorySize()
		}
		s.Unlock()
	}
	return out
}

// Stats are a plugin's failure counters, for metrics (all monotonic
// except MemoryBytes). Reading them takes no lock.
type Stats struct {
	// The instance pool's: Instantiations, Traps (instances discarded
	// after a failed call, each replaced), Timeouts (runaway calls
	// killed at call_timeout), Recycles (instances replaced for memory),
	// BackoffRejects (streams refused while a slot waited out a backoff),
	// MemoryBytes (linear memory of the live instances).
	engine.Stats
	// FailedStreams counts requests the plugin failed on: answered 503
	// (fail_closed) or continued without it (fail_open).
	FailedStreams uint64
	// LimitsExceeded counts host calls refused or cut for a limit
	// (shared data, queue depth, log line).
	LimitsExceeded uint64
}

// Stats returns the plugin's counters.
func (p *Plugin) Stats() Stats {
	return Stats{
		Stats:          p.eng.Stats(),
		FailedStreams:  p.failed.Load(),
		LimitsExceeded: p.limitHits.Load(),
	}
}
