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

// growModule exports "bomb": memory.grow by one page until refused, each
// new page written to (so it is resident), then unreachable.
func growModule() []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = append(b, 1, 4, 1, 0x60, 0, 0)                  // type: () -> ()
	b = append(b, 3, 2, 1, 0)                           // function 0: type 0
	b = append(b, 5, 3, 1, 0x00, 0x01)                  // memory: min 1
	b = append(b, 7, 8, 1, 4, 'b', 'o', 'm', 'b', 0, 0) // export "bomb" func 0
	body := []byte{
		0x01, 0x01, 0x7F, // one local i32 (the old size in pages)
		0x03, 0x40, // loop
		0x41, 0x01, 0x40, 0x00, // i32.const 1; memory.grow
		0x22, 0x00, // local.tee 0
		0x41, 0x7F, 0x46, // i32.const -1; i32.eq
		0x04, 0x40, 0x00, 0x0B, // if: unreachable; end
		0x20, 0x00, 0x41, 0x10, 0x74, // local.get 0; i32.const 16; i32.shl (address of the new page)
		0x41, 0x01, 0x36, 0x02, 0x00, // i32.const 1; i32.store
		0x0C, 0x00, // br 0
		0x0B, // end loop
		0x0B, // end
	}
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

// trapModule exports "trap" (unreachable) and "ok" (returns), with a memory.
func trapModule() []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = append(b, 1, 4, 1, 0x60, 0, 0) // type: () -> ()
	b = append(b, 3, 3, 2, 0, 0)       // functions 0, 1: type 0
	b = append(b, 5, 3, 1, 0x00, 0x01) // memory: min 1
	b = append(b, 7, 13, 2,            // exports
		4, 't', 'r', 'a', 'p', 0, 0, // "trap" func 0
		2, 'o', 'k', 0, 1) // "ok" func 1
	b = append(b, 10, 8, 2, 3, 0, 0x00, 0x0B, 2, 0, 0x0B) // bodies: unreachable; nop
	return b
}

// call locks slot 0, calls fn and unlocks; it returns Lock's error or the
// call's.
func call(e *Engine, fn string) error {
	s := e.Slots()[0]
	defer s.Unlock()
	inst, err := s.Lock(context.Background())
	if err != nil {
		return err
	}
	err = inst.Call(inst.Lookup(fn), make([]uint64, 1))
	if err == nil {
		inst.Healthy()
	}
	return err
}

// TestBackoff: the first failure is replaced at once; a second in a row
// makes the slot answer ErrBackoff at once (without waiting) until Base
// has passed; a healthy call starts the count over.
func TestBackoff(t *testing.T) {
	ctx := context.Background()
	e, err := New(ctx, Config{Name: "trap", Wasm: trapModule(), NoCache: true, PoolSize: 1,
		Backoff: Backoff{Base: 200 * time.Millisecond, Max: time.Second, Rate: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	var te *TrapError
	if err := call(e, "trap"); !errors.As(err, &te) {
		t.Fatalf("trap: %v", err)
	}
	if err := call(e, "trap"); !errors.As(err, &te) { // replaced at once
		t.Fatalf("second trap: %v", err)
	}
	if err := call(e, "ok"); !errors.Is(err, ErrBackoff) {
		t.Fatalf("after two failures in a row: %v, want ErrBackoff", err)
	}
	if st := e.Stats(); st.Instantiations != 2 || st.Traps != 2 || st.BackoffRejects != 1 {
		t.Errorf("stats %+v", st)
	}
	time.Sleep(250 * time.Millisecond)
	if err := call(e, "ok"); err != nil {
		t.Fatalf("after the backoff: %v", err)
	}
	// Healthy again: one failure is replaced at once.
	if err := call(e, "trap"); !errors.As(err, &te) {
		t.Fatalf("trap: %v", err)
	}
	if err := call(e, "ok"); err != nil {
		t.Fatalf("after one failure: %v", err)
	}
}

// TestRestartRate: replacements across the pool are rate limited, so a
// plugin failing on every call cannot make instances as fast as calls come.
func TestRestartRate(t *testing.T) {
	ctx := context.Background()
	e, err := New(ctx, Config{Name: "trap", Wasm: trapModule(), NoCache: true, PoolSize: 1,
		Backoff: Backoff{Base: time.Nanosecond, Max: time.Nanosecond, Rate: 0.001, Burst: 3}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	var rejected int
	for i := 0; i < 100; i++ {
		if errors.Is(call(e, "trap"), ErrBackoff) {
			rejected++
		}
	}
	// The first instance and three replacements (the burst); then only
	// refusals.
	if st := e.Stats(); st.Instantiations != 4 || rejected != 96 {
		t.Errorf("%d calls refused, stats %+v; want 4 instantiations, 96 refusals", rejected, st)
	}
}

// TestRecycle: an instance grown past RecycleBytes reports OverMemory; a
// retired one is replaced without counting a failure.
func TestRecycle(t *testing.T) {
	ctx := context.Background()
	e, err := New(ctx, Config{Name: "grow", Wasm: growModule(), NoCache: true, PoolSize: 1,
		MemoryLimitPages: 64, RecycleBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	s := e.Slots()[0]
	inst, err := s.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if inst.OverMemory() {
		t.Fatal("a fresh instance is over its recycle threshold")
	}
	_ = inst.Call(inst.Lookup("bomb"), make([]uint64, 1)) // grows to 4 MiB, traps
	s.Unlock()
	inst, err = s.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := inst.mem.Grow(32); !ok || !inst.OverMemory() {
		t.Fatalf("grown to %d bytes: not over the 1 MiB threshold", inst.MemorySize())
	}
	inst.Retire()
	s.Unlock()
	if st := e.Stats(); st.Recycles != 1 || st.Traps != 1 || st.MemoryBytes != 0 {
		t.Errorf("stats %+v, want 1 recycle, 1 trap, nothing held", st)
	}
	if _, err := s.Lock(ctx); err != nil { // no backoff after a recycle
		t.Fatal(err)
	}
	s.Unlock()
}
