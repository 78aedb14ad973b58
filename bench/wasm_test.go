package bench

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/wasm/engine"
	"github.com/heimdallgw/heimdall/internal/wasm/host"
)

// BenchmarkHostCall is the cost of one host call made from a Go guest (SDK
// marshalling included): the hostcalls guest makes the call 64 times per
// request, and the CPU time of a request with 0 calls is subtracted. ns/op
// is the whole request; cpu-ns/call is the metric to read.
func BenchmarkHostCall(b *testing.B) {
	const n = 64
	p := load(b, "hostcalls", wasmOf(b, "bench/testdata/hostcalls"), nil)
	body := jsonBody(1 << 10)
	for _, op := range []string{"get_header", "get_pairs", "add_header", "get_body"} {
		b.Run(op, func(b *testing.B) {
			ctx := b.Context()
			var reqBody []byte
			if op == "get_body" {
				reqBody = body
			}
			x := new(filter.Exchange)
			base := []filter.Factory{factory(b, p, fmt.Sprintf(`{"op": %q, "n": 0}`, op))}
			calls := []filter.Factory{factory(b, p, fmt.Sprintf(`{"op": %q, "n": %d}`, op, n))}
			run := func(facs []filter.Factory) {
				if err := exchange(ctx, x, facs, reqBody, nil, "text/plain"); err != nil {
					b.Fatal(err)
				}
			}
			// Per-request CPU time without the calls, measured here rather
			// than in a sub-benchmark so the difference comes from one run.
			// CPU time, not wall time: it is not inflated when other
			// processes share the machine.
			const warm, rounds = 200, 2000
			for range warm {
				run(base)
			}
			c0 := processCPU()
			for range rounds {
				run(base)
			}
			baseNs := float64(processCPU()-c0) / rounds
			b.ReportAllocs()
			c1 := processCPU()
			for b.Loop() {
				run(calls)
			}
			perReq := float64(processCPU()-c1) / float64(b.N)
			b.ReportMetric(perReq, "cpu-ns/op")
			b.ReportMetric((perReq-baseNs)/n, "cpu-ns/call")
		})
	}
}

// minimalWasm is a module with one exported memory page and nothing else,
// for benchmarks of the engine's own bookkeeping.
var minimalWasm = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
	0x05, 0x03, 0x01, 0x00, 0x01, // memory section: 1 memory, min 1 page
	0x07, 0x0a, 0x01, 0x06, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x00, // export "memory"
}

// nopWasm exports one function, f, that does nothing, and a memory (a
// module without one cannot be instrumented and would measure wazero's own
// termination checks instead).
var nopWasm = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
	0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: func() -> ()
	0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
	0x05, 0x03, 0x01, 0x00, 0x01, // memory section: 1 memory, min 1 page
	0x07, 0x05, 0x01, 0x01, 'f', 0x00, 0x00, // export "f"
	0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b, // code: empty body
}

// BenchmarkEngineCall is the fixed cost of one call into a guest through
// engine.Instance.Call, the guest doing nothing: the engine's watchdog
// bookkeeping and wazero's per-call set-up; trusted is call_timeout: 0 (no
// watchdog). Every proxy-wasm callback (about 7 per
// request for a plugin with header callbacks) and every host call that
// returns data (through proxy_on_memory_allocate) pays it once.
func BenchmarkEngineCall(b *testing.B) {
	for _, trusted := range []bool{false, true} {
		name := "interruptible"
		if trusted {
			name = "trusted"
		}
		b.Run(name, func(b *testing.B) {
			e, err := engine.New(b.Context(), engine.Config{Name: "nop", Wasm: nopWasm, NoCache: true, PoolSize: 1, Uninterruptible: trusted})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = e.Close(context.WithoutCancel(b.Context())) })
			if term, why := e.Termination(); term == engine.TerminationContext {
				b.Fatalf("nop module not instrumented: %v", why)
			}
			s := e.Slots()[0]
			inst, err := s.Lock(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Unlock()
			f := inst.Lookup("f")
			stack := make([]uint64, 1)
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				if err := inst.Call(f, stack); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
		})
	}
}

// BenchmarkInstanceCheckout is picking an instance slot and locking and
// unlocking it (engine.Engine.Pick, Slot.Lock, Slot.Unlock), which every
// stream of every plugin does once to create its context and once per
// callback phase. The parallel case has 4 slots shared by GOMAXPROCS
// goroutines.
func BenchmarkInstanceCheckout(b *testing.B) {
	e, err := engine.New(b.Context(), engine.Config{Name: "minimal", Wasm: minimalWasm, NoCache: true, PoolSize: 4})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Close(context.WithoutCancel(b.Context())) })
	ctx := b.Context()
	for _, s := range e.Slots() { // create the instances up front
		if _, err := s.Lock(ctx); err != nil {
			b.Fatal(err)
		}
		s.Unlock()
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s := e.Pick()
			if _, err := s.Lock(ctx); err != nil {
				b.Fatal(err)
			}
			s.Unlock()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s := e.Pick()
				if _, err := s.Lock(ctx); err != nil {
					b.Error(err)
					return
				}
				s.Unlock()
			}
		})
	})
}

// BenchmarkColdStart is loading the headers plugin (3.5 MB of Go wasm):
// compiling it with no cache, from a warm compilation cache directory (a
// restart with heimdall.wasm_cache_dir set), from a warm in-memory cache (a
// reload: the gateway shares one cache between plugins), and instantiating
// it (from the warm in-memory cache: instantiation, _initialize,
// proxy_on_vm_start and proxy_on_configure of the first route).
func BenchmarkColdStart(b *testing.B) {
	wasm := wasmOf(b, "plugins/headers")
	loadClose := func(b *testing.B, cfg host.PluginConfig, instantiate bool) {
		p, err := host.Load(b.Context(), cfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		if instantiate {
			if _, err := p.NewFactory(b.Context(), "1", []byte(headersConf)); err != nil {
				b.Fatal(err)
			}
		}
		if err := p.Close(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("compile/no-cache", func(b *testing.B) {
		for b.Loop() {
			loadClose(b, host.PluginConfig{Name: "headers", Wasm: wasm, NoCache: true, PoolSize: 1}, false)
		}
	})
	b.Run("compile/cache-dir", func(b *testing.B) {
		cfg := host.PluginConfig{Name: "headers", Wasm: wasm, CacheDir: b.TempDir(), PoolSize: 1}
		loadClose(b, cfg, false) // fill the cache
		for b.Loop() {
			loadClose(b, cfg, false)
		}
	})
	cache := engine.NewMemoryCache()
	b.Cleanup(func() { _ = cache.Close(context.WithoutCancel(b.Context())) })
	cfg := host.PluginConfig{Name: "headers", Wasm: wasm, Cache: cache, PoolSize: 1}
	b.Run("compile/memory-cache", func(b *testing.B) {
		loadClose(b, cfg, false)
		for b.Loop() {
			loadClose(b, cfg, false)
		}
	})
	b.Run("load+instantiate/memory-cache", func(b *testing.B) {
		loadClose(b, cfg, true)
		for b.Loop() {
			loadClose(b, cfg, true)
		}
	})
}

// BenchmarkInstanceMemory reports the Go heap held by one more instance of
// each example plugin: its linear memory (wazero allocates it on the Go
// heap) and its module state; the compiled code is shared by a plugin's
// instances and not counted. It loads the plugin with 1 and with 9
// instances (from a warm compilation cache), lets each instance serve two
// requests, and divides the difference in live heap by 8. The time per op
// is meaningless.
func BenchmarkInstanceMemory(b *testing.B) {
	for _, pl := range []struct{ name, conf string }{
		{"headers", headersConf},
		{"heimdall", `{"max_body_bytes": 4096}`},
		{"jsonmask", `{"fields": ["password", "ssn"]}`},
	} {
		b.Run(pl.name, func(b *testing.B) {
			wasm := wasmOf(b, "plugins/"+pl.name)
			cache := engine.NewMemoryCache()
			b.Cleanup(func() { _ = cache.Close(context.WithoutCancel(b.Context())) })
			ctx := b.Context()
			// heldBy returns the live heap growth while a plugin with pool
			// instances is loaded and every instance has served requests.
			heldBy := func(pool int) float64 {
				before := liveHeap()
				p, err := host.Load(ctx, host.PluginConfig{Name: pl.name, Wasm: wasm, Cache: cache, PoolSize: pool}, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer p.Close(ctx)
				f, err := p.NewFactory(ctx, "1", []byte(pl.conf))
				if err != nil {
					b.Fatal(err)
				}
				x := new(filter.Exchange)
				for range 2 * pool { // streams are spread over the instances
					if err := exchange(ctx, x, []filter.Factory{f}, nil, smallBody, "text/plain"); err != nil {
						b.Fatal(err)
					}
				}
				return float64(liveHeap()) - float64(before)
			}
			heldBy(1) // warm the cache
			var perInstance float64
			for b.Loop() {
				perInstance = (heldBy(9) - heldBy(1)) / 8
			}
			b.ReportMetric(perInstance/(1<<20), "heap-MiB/instance")
		})
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
