package proxy

import (
	"testing"
	"time"
)

// TestLazyDeadline: a deadline is re-armed only when it moves later by at
// least timeout/32, so the one in force is never later than asked and at
// most timeout/32 earlier.
func TestLazyDeadline(t *testing.T) {
	const timeout = 320 * time.Millisecond
	var d lazyDeadline
	var armed []time.Time
	set := func(at time.Time) error { armed = append(armed, at); return nil }

	d.arm(set, time.Now(), timeout)
	if len(armed) != 1 {
		t.Fatalf("first arm: %d sets, want 1", len(armed))
	}
	d.arm(set, time.Now(), timeout)
	if len(armed) != 1 {
		t.Fatalf("immediate re-arm: %d sets, want 1 (skipped)", len(armed))
	}
	time.Sleep(timeout/32 + time.Millisecond)
	before := time.Now()
	d.arm(set, time.Now(), timeout)
	if len(armed) != 2 {
		t.Fatalf("re-arm after timeout/32: %d sets, want 2", len(armed))
	}
	if got := armed[1].Sub(before); got < timeout || got > timeout+50*time.Millisecond {
		t.Fatalf("armed %v ahead, want %v", got, timeout)
	}
	// A socket replaced by redial has no deadline: the zero value arms.
	d = lazyDeadline{}
	d.arm(set, time.Now(), timeout)
	if len(armed) != 3 {
		t.Fatalf("after reset: %d sets, want 3", len(armed))
	}
}
