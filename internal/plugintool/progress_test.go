package plugintool

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCompilingProgress(t *testing.T) {
	var mu sync.Mutex
	var got []string
	p := func(msg string, done bool) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, strings.Fields(msg)[0]+map[bool]string{true: " done", false: " running"}[done])
	}
	// Fast (a cache hit): nothing said.
	if err := Compiling(p, "x", 1<<20, func() error { return nil }); err != nil || len(got) != 0 {
		t.Fatalf("fast: %v %q", err, got)
	}
	// Slow: a running line after Slow, then the duration.
	err := Compiling(p, "x", 1<<20, func() error { time.Sleep(Slow + 200*time.Millisecond); return errors.New("boom") })
	if err == nil || strings.Join(got, ",") != "compiling running,failed done" {
		t.Fatalf("slow: %v %q", err, got)
	}
}
