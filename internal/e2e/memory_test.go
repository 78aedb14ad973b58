package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// The gateway exposes no accessor for a wasm instance's memory size, so the
// leak check measures the process heap: wazero keeps linear memory in Go
// memory, so a guest that grows by a few pages per request shows up there.
// One instance serves every request (pool_size 1), which concentrates any
// per-request growth.
func TestHeimdallMemoryFlat(t *testing.T) {
	const (
		warmup   = 2000
		requests = memoryRequests
		workers  = 4
		batches  = 10
		slack    = 8 << 20 // bytes of heap growth tolerated
	)
	var bodies, accessLines atomic.Int64
	g := Start(t, Options{
		Plugins: []Plugin{{Name: "heimdall", Priority: 7999, PoolSize: 1}},
		Routes:  routes(route("1", "/*", "heimdall", `{"max_body_bytes": 512}`)),
		// Keep the log small: count the per-request records instead.
		Keep: func(rec []byte) bool {
			switch {
			case bytes.Contains(rec, []byte(`"msg":"#request_body `)):
				bodies.Add(1)
				return false
			case bytes.Contains(rec, []byte(`"msg":"#`)):
				return false
			case bytes.Contains(rec, []byte(`"msg":"access"`)):
				accessLines.Add(1)
				return false
			}
			return true
		},
	})
	client := Client()
	payload := strings.Repeat("0123456789abcdef", 64) // 1 KiB, logged truncated

	run := func(n int) {
		t.Helper()
		var wg sync.WaitGroup
		var failed atomic.Int64
		var firstErr atomic.Value
		per := n / workers
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < per; i++ {
					body := fmt.Sprintf("%d-%d-%s", w, i, payload)
					resp, err := client.Post(g.URL+"/anything/mem", "text/plain", strings.NewReader(body))
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
						continue
					}
					b, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(body[:12])) {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, fmt.Sprintf("status %d err %v", resp.StatusCode, err))
					}
				}
			}(w)
		}
		wg.Wait()
		if f := failed.Load(); f > 0 {
			t.Fatalf("%d of %d requests failed; first: %v", f, n, firstErr.Load())
		}
	}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}

	// Samples after every batch: the baseline is the lowest of the first
	// half, so that memory released late by earlier tests in this process
	// does not hide growth (a stopped gateway's decoded modules stay
	// reachable for about 10 s, until the server's idle worker goroutines
	// are reaped); the last sample must stay within slack of it.
	run(warmup)
	var samples []uint64
	for done := 0; done < requests; done += requests / batches {
		run(requests / batches)
		samples = append(samples, heap())
	}
	base := samples[0]
	for _, s := range samples[:len(samples)/2] {
		base = min(base, s)
	}
	last := samples[len(samples)-1]
	t.Logf("heap after each %d requests (bytes): %v; baseline %d, last %+d", requests/batches, samples, base, int64(last)-int64(base))
	if last > base+slack {
		t.Errorf("heap grew by %d KiB (last sample against the lowest of the first half, %d requests in all; slack %d KiB): memory is leaking per request",
			(last-base)>>10, requests, slack>>10)
	}

	total := int64(warmup + requests)
	g.WaitLog(t, "every request body logged", func(Entry) bool {
		return bodies.Load() >= total && accessLines.Load() >= total
	})
	if b := bodies.Load(); b != total {
		t.Errorf("heimdall logged %d request bodies for %d requests", b, total)
	}
	// The instance is still healthy: a normal exchange is logged in full.
	resp, body := do(t, newReq(t, "POST", g.URL+"/post", strings.NewReader("final"), "Content-Type", "text/plain"))
	if resp.StatusCode != 200 || decodeEcho(t, body).Data != "final" {
		t.Fatalf("after the run: status %d body %s", resp.StatusCode, body)
	}
	if n := bodies.Load(); n != total+1 {
		g.WaitLog(t, "the final body", func(Entry) bool { return bodies.Load() == total+1 })
	}
	for _, e := range g.Logs() {
		if e.Level == "ERROR" || e.Level == "WARN" {
			t.Errorf("log: %s", e.Raw)
		}
	}
}
