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
