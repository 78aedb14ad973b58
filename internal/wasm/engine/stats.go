package engine

import (
	"sync"
	"sync/atomic"
	"time"
)

// Stats are an engine's failure and lifecycle counters since it was made
// (monotonic, except MemoryBytes).
type Stats struct {
	// Instantiations counts instances created (the first ones included,
	// failed attempts included).
	Instantiations uint64
	// Traps counts instances discarded after a failed guest call: a trap,
	// proc_exit, a host function that found the guest misbehaving, a
	// deadline (Timeouts are a subset). Each was replaced by a new one.
	Traps uint64
	// Timeouts counts guest calls aborted for running past CallTimeout
	// (runaway-call kills).
	Timeouts uint64
	// Recycles counts instances replaced because their memory grew past
	// the recycle threshold or the pool neared its budget.
	Recycles uint64
	// BackoffRejects counts Slot.Lock calls refused while a slot waited to
	// replace a failed instance.
	BackoffRejects uint64
	// MemoryBytes is the linear memory of the live instances now.
	MemoryBytes uint64
}

type counters struct {
	instantiations, traps, timeouts, recycles, backoff atomic.Uint64
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	return Stats{
		Instantiations: e.stats.instantiations.Load(),
		Traps:          e.stats.traps.Load(),
		Timeouts:       e.stats.timeouts.Load(),
		Recycles:       e.stats.recycles.Load(),
		BackoffRejects: e.stats.backoff.Load(),
		MemoryBytes:    e.PoolMemory(),
	}
}

// PoolMemory is the linear memory of the pool's live instances, in bytes,
// as of each slot's last Unlock (no lock taken).
func (e *Engine) PoolMemory() uint64 {
	var n uint64
	for _, s := range e.slots {
		n += s.mem.Load()
	}
	return n
}

// Backoff paces the replacement of failed instances. After a slot's first
// failure its new instance comes at once (the next request gets it); after
// each further failure in a row the slot waits Base, doubling up to Max,
// answering ErrBackoff meanwhile. A slot is healthy again once one of its
// instances served a stream (Instance.Healthy). Across the pool at most
// Rate replacements a second are made (a token bucket of Burst): that
// bounds the CPU a plugin failing on many requests (a trap on a header an
// attacker sends) can burn, whatever the pool size. Zero fields are the
// Default* values (Burst: twice the pool size, at least 4).
type Backoff struct {
	Base, Max time.Duration
	Rate      float64
	Burst     int
}

func (b Backoff) withDefaults(pool int) Backoff {
	if b.Base <= 0 {
		b.Base = DefaultBackoffBase
	}
	if b.Max <= 0 {
		b.Max = DefaultBackoffMax
	}
	b.Max = max(b.Max, b.Base)
	if b.Rate <= 0 {
		b.Rate = DefaultRestartRate
	}
	if b.Burst <= 0 {
		b.Burst = max(2*pool, 4)
	}
	return b
}

// tokenBucket limits the rate of replacements of failed instances.
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

func (b *tokenBucket) init(rate float64, burst int) {
	b.rate, b.burst, b.tokens = rate, float64(burst), float64(burst)
}

// take takes a token and returns 0, or returns how long until one is
// available.
func (b *tokenBucket) take(now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

// TryLockExisting is LockExisting without waiting: when a call holds the
// slot it returns ok false and nothing is locked; otherwise the slot is
// locked (Unlock must be called) and inst is its live instance or nil. It is
// for metrics scrapes, which must not queue behind a running callback.
func (s *Slot) TryLockExisting() (inst *Instance, ok bool) {
	if !s.mu.TryLock() {
		return nil, false
	}
	if s.closed {
		return nil, true
	}
	return s.Current(), true
}
