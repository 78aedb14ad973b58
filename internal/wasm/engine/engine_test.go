package engine

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// spinModule exports "spin", an infinite loop; with a memory or without
// (then it cannot be instrumented and falls back to wazero's checks).
func spinModule(withMemory bool) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = append(b, 1, 4, 1, 0x60, 0, 0) // type: () -> ()
	b = append(b, 3, 2, 1, 0)          // function 0: type 0
	if withMemory {
		b = append(b, 5, 3, 1, 0x00, 0x01) // memory: min 1
	}
	b = append(b, 7, 8, 1, 4, 's', 'p', 'i', 'n', 0, 0) // export "spin" func 0
	body := []byte{0, 0x03, 0x40, 0x0C, 0, 0x0B, 0x0B}  // loop br 0 end end
	b = append(b, 10, byte(len(body)+2), 1, byte(len(body)))
	return append(b, body...)
}

func TestTermination(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name            string
		wasm            []byte
		uninterruptible bool
		want            Termination
	}{
		{"instrumented", spinModule(true), false, TerminationGlobal},
		{"fallback", spinModule(false), false, TerminationContext},
		{"uninterruptible", spinModule(true), true, TerminationNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(ctx, Config{Name: tc.name, Wasm: tc.wasm, NoCache: true, PoolSize: 1,
				CallTimeout: 100 * time.Millisecond, Uninterruptible: tc.uninterruptible})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close(ctx)
			term, why := e.Termination()
			if term != tc.want || (term == TerminationContext) != (why != nil) {
				t.Fatalf("termination %v (%v), want %v", term, why, tc.want)
			}
			if !bytes.Equal(tc.wasm, e.cfg.Wasm) {
				t.Fatal("Config.Wasm was modified")
			}
			if tc.uninterruptible {
				return // spin would never return
			}
			s := e.Slots()[0]
			inst, err := s.Lock(ctx)
			if err != nil {
				s.Unlock()
				t.Fatal(err)
			}
			start := time.Now()
			err = inst.Call(inst.Lookup("spin"), make([]uint64, 1))
			s.Unlock()
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("spin: %v, want ErrTimeout", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("spin aborted after %v", d)
			}
			if !inst.Broken() || s.Current() != nil {
				t.Fatal("the aborted instance was kept")
			}
		})
	}
}

// spinNopModule exports "spin" (an infinite loop) and "nop", with a memory
// (so it is instrumented).
func spinNopModule() []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = append(b, 1, 4, 1, 0x60, 0, 0) // type: () -> ()
	b = append(b, 3, 3, 2, 0, 0)       // functions 0 and 1: type 0
	b = append(b, 5, 3, 1, 0x00, 0x01) // memory: min 1
	b = append(b, 7, 14, 2,
		4, 's', 'p', 'i', 'n', 0, 0, // export "spin" func 0
		3, 'n', 'o', 'p', 0, 1) // export "nop" func 1
	spin := []byte{0, 0x03, 0x40, 0x0C, 0, 0x0B, 0x0B} // loop br 0 end end
	nop := []byte{0, 0x0B}
	code := []byte{2, byte(len(spin))}
	code = append(code, spin...)
	code = append(code, byte(len(nop)))
	code = append(code, nop...)
	b = append(b, 10, byte(len(code)))
	return append(b, code...)
}

// TestWatchdogPrecision: a runaway call is aborted no earlier than the call
// timeout and within the watchdog's interval after it (with slack for a
// loaded machine); many short calls that together last much longer than
// the timeout are never aborted.
func TestWatchdogPrecision(t *testing.T) {
	ctx := context.Background()
	const timeout = 200 * time.Millisecond
	e, err := New(ctx, Config{Name: "watch", Wasm: spinNopModule(), NoCache: true, PoolSize: 1, CallTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	if term, why := e.Termination(); term != TerminationGlobal {
		t.Fatalf("termination %v (%v), want instrumented", term, why)
	}
	s := e.Slots()[0]
	inst, err := s.Lock(ctx)
	if err != nil {
		s.Unlock()
		t.Fatal(err)
	}
	nop := inst.Lookup("nop")
	stack := make([]uint64, 1)
	start := time.Now()
	for n := 0; time.Since(start) < 3*timeout; n++ {
		if err := inst.Call(nop, stack); err != nil {
			s.Unlock()
			t.Fatalf("short call %d after %v: %v", n, time.Since(start), err)
		}
		if n%64 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	start = time.Now()
	err = inst.Call(inst.Lookup("spin"), stack)
	d := time.Since(start)
	s.Unlock()
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("spin: %v, want ErrTimeout", err)
	}
	if d < timeout {
		t.Fatalf("spin aborted after %v, before the %v timeout", d, timeout)
	}
	if limit := timeout + watchInterval(timeout) + 2*time.Second; d > limit {
		t.Fatalf("spin aborted after %v, want at most %v", d, limit)
	}
	t.Logf("aborted after %v (timeout %v, interval %v)", d, timeout, watchInterval(timeout))
}
