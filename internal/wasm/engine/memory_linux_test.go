//go:build linux

package engine

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

func rssBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n * int64(os.Getpagesize())
}

// TestMemoryBombReleased: a guest that grows its memory one page at a time
// until refused, writing to every page, on four instances in turn with the
// old 256 MiB limit. Each call fails (the guest traps at the refusal), the
// instance is discarded, and the process keeps none of that memory: with
// wazero's default allocator the four calls left ~1.1 GB resident (each
// reallocation copies the memory into a new Go slice; the old ones stay in
// the heap until the scavenger returns them, minutes later).
func TestMemoryBombReleased(t *testing.T) {
	ctx := context.Background()
	e, err := New(ctx, Config{Name: "bomb", Wasm: growModule(), NoCache: true, PoolSize: 4, MemoryLimitPages: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	start := rssBytes(t)
	for i, s := range e.Slots() {
		inst, err := s.Lock(ctx)
		if err != nil {
			s.Unlock()
			t.Fatal(err)
		}
		err = inst.Call(inst.Lookup("bomb"), make([]uint64, 1))
		if grown := inst.MemorySize(); grown != 4096<<16 {
			t.Errorf("bomb %d: memory %d bytes when refused, want the 256 MiB limit", i, grown)
		}
		s.Unlock()
		var te *TrapError
		if !errors.As(err, &te) {
			t.Fatalf("bomb %d: err = %v, want a trap", i, err)
		}
		if now := rssBytes(t); now > start+64<<20 {
			t.Errorf("after bomb %d: RSS grew by %d MiB (from %d MiB): the discarded instance's memory stayed", i, (now-start)>>20, start>>20)
		}
	}
	if st := e.Stats(); st.Traps != 4 || st.MemoryBytes != 0 {
		t.Errorf("stats %+v, want 4 traps and no memory held", st)
	}
}

// TestMemoryBudget: with a pool budget of 3 MiB, a guest cannot grow past
// what the other instances leave.
func TestMemoryBudget(t *testing.T) {
	ctx := context.Background()
	e, err := New(ctx, Config{Name: "bomb", Wasm: growModule(), NoCache: true, PoolSize: 2,
		MemoryLimitPages: 1024, MemoryBudget: 3 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	s0, s1 := e.Slots()[0], e.Slots()[1]
	i0, err := s0.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i1, err := s1.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = i0.Call(i0.Lookup("bomb"), make([]uint64, 1))
	if got := i0.MemorySize(); got != 3<<20-1<<16 {
		t.Errorf("first instance grew to %d bytes, want the budget less the other's page (%d)", got, 3<<20-1<<16)
	}
	s0.Unlock() // discarded: its pages go back to the budget
	_ = i1.Call(i1.Lookup("bomb"), make([]uint64, 1))
	if got := i1.MemorySize(); got != 3<<20 {
		t.Errorf("second instance grew to %d bytes, want the whole budget", got)
	}
	s1.Unlock()
}
