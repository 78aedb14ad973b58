package engine

import (
	"sync"
	"sync/atomic"
	"time"
)

// watchdog enforces Config.CallTimeout for one engine without touching a
// timer on every call: a call only bumps its instance's sequence number
// (odd while a call runs, see Instance.enter/leave), and one goroutine per
// engine looks at every live instance each interval. An instance seen in
// the same call (same odd number) for CallTimeout since it was first seen
// there is expired. The call has then run at least CallTimeout and at most
// CallTimeout + interval (plus however late the goroutine gets a CPU).
//
// A time.Timer reset and stopped around every call cost ~60 ns a call (the
// timer heap, its lock), about 7 times per request for a plugin with
// header callbacks; the two atomic adds cost a few.
type watchdog struct {
	e        *Engine
	interval time.Duration
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
}

// watchInterval is the watchdog's period for a call timeout: an eighth of
// it, within [1ms, 250ms].
func watchInterval(timeout time.Duration) time.Duration {
	return min(max(timeout/8, time.Millisecond), 250*time.Millisecond)
}

func startWatchdog(e *Engine) *watchdog {
	w := &watchdog{e: e, interval: watchInterval(e.cfg.CallTimeout), stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// close stops the goroutine and waits for it.
func (w *watchdog) close() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

func (w *watchdog) run() {
	defer close(w.done)
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			for _, s := range w.e.slots {
				if inst := s.live.Load(); inst != nil {
					inst.watch(w.e.cfg.CallTimeout)
				}
			}
		}
	}
}

// watch is one look at the instance by the watchdog goroutine (the only
// goroutine that touches seen and since).
func (i *Instance) watch(timeout time.Duration) {
	seq := i.seq.Load()
	if seq&1 == 0 { // idle
		i.seen = 0
		return
	}
	// Read after seq (not the tick's time, which can be earlier): the
	// call seen started before now, so it is never aborted early.
	now := time.Now()
	if seq != i.seen {
		i.seen, i.since = seq, now
		return
	}
	if now.Sub(i.since) >= timeout {
		i.expire()
	}
}

// enter and leave bracket an outer call (or an instantiation) for the
// watchdog.
func (i *Instance) enter() { i.seq.Add(1) }
func (i *Instance) leave() { i.seq.Add(1) }

// watchState is the watchdog's view of one instance.
type watchState struct {
	// seq is odd while an outer call runs; it changes at every call
	// boundary, so the watchdog can tell a new call from a long one.
	seq atomic.Uint64
	// seen and since: the odd seq the watchdog last saw and when it first
	// saw it.
	seen  uint64
	since time.Time
}
