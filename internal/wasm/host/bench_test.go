package host

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
	"github.com/heimdallgw/heimdall/internal/wasm/abi"
)

// BenchmarkRequestHeadersOnly is one request through the conformance plugin
// (headers callbacks only) via filter.Chain.
func BenchmarkRequestHeadersOnly(b *testing.B) {
	p, _ := loadConformance(b, PluginConfig{})
	f, err := p.NewFactory(context.Background(), "r1", nil)
	if err != nil {
		b.Fatal(err)
	}
	facs := []filter.Factory{f}
	ctx := context.Background()
	x := &filter.Exchange{}
	defer meterCPU(b).stop()
	b.ReportAllocs()
	for b.Loop() {
		x.Reset()
		x.Req.SetMethod([]byte("GET"))
		x.Req.SetPath([]byte("/bench"))
		x.Req.SetAuthority([]byte("example.com"))
		x.Req.Header.AddString("x-test", "")
		c, err := filter.NewChain(x, facs, filter.Options{})
		if err != nil {
			b.Fatal(err)
		}
		_ = c.RequestHeaders(ctx, true)
		x.Resp.Status = 200
		_ = c.ResponseHeaders(ctx, true)
		c.Log()
		c.Done()
	}
}

// benchVM returns a vm with a live stream context for host-function benchmarks.
func benchVM(b *testing.B) (*vm, func()) {
	p, _ := loadConformance(b, PluginConfig{})
	return benchVMOf(b, p)
}

func benchVMOf(b *testing.B, p *Plugin) (*vm, func()) {
	f, err := p.NewFactory(context.Background(), "r1", nil)
	if err != nil {
		b.Fatal(err)
	}
	x := exchange("GET", "/bench", "user-agent", "bench", "accept", "*/*", "x-test", "")
	sf, err := f.NewStreamFilter(x)
	if err != nil {
		b.Fatal(err)
	}
	s := sf.(*stream)
	inst := s.slot.LockExisting()
	v := p.vmOf(inst)
	v.cur = s.c
	body := &filter.Body{B: []byte("hello body")}
	v.body, v.bodyType = body, 0
	return v, func() { v.cur, v.body = nil, nil; s.slot.Unlock(); sf.OnDone(x) }
}

// scratch returns guest addresses usable by the benchmarks: a key and two
// out-pointers, in memory the guest allocated.
func scratch(b *testing.B, v *vm, key string) (k, outP, outS uint64) {
	ptr, st := v.alloc(64)
	if st != 0 {
		b.Fatal(st)
	}
	v.inst.Write(ptr, []byte(key))
	return uint64(ptr), uint64(ptr + 48), uint64(ptr + 56)
}

func BenchmarkHostGetHeader(b *testing.B) {
	v, done := benchVM(b)
	defer done()
	k, op, os := scratch(b, v, "user-agent")
	benchHostCall(b, v, hGetHeaderMapValue, 0, k, 10, op, os)
}

// BenchmarkHostGetHeaderScratch is BenchmarkHostGetHeader on a guest built
// with the repo SDK, which offers a scratch buffer (heimdall_scratch_v1):
// no nested proxy_on_memory_allocate call.
func BenchmarkHostGetHeaderScratch(b *testing.B) {
	v, done := benchVMOf(b, loadPlugin(b, "heimdall"))
	defer done()
	if v.scratchSize == 0 {
		b.Fatal("no scratch buffer")
	}
	k, op, os := scratch(b, v, "user-agent")
	benchHostCall(b, v, hGetHeaderMapValue, 0, k, 10, op, os)
}

// benchHostCall calls the host function fn with args (the stack a guest
// would pass) in the benchmark loop; it must answer Ok.
func benchHostCall(b *testing.B, v *vm, fn func(*vm, []uint64) abi.Status, args ...uint64) {
	s := make([]uint64, len(args))
	defer meterCPU(b).stop()
	b.ReportAllocs()
	for b.Loop() {
		copy(s, args)
		if fn(v, s) != abi.StatusOK {
			b.Fatal("status")
		}
	}
}

func BenchmarkHostGetPairs(b *testing.B) {
	v, done := benchVM(b)
	defer done()
	_, op, os := scratch(b, v, "")
	benchHostCall(b, v, hGetHeaderMapPairs, 0, op, os)
}

func BenchmarkHostAddHeader(b *testing.B) {
	v, done := benchVM(b)
	defer done()
	k, _, _ := scratch(b, v, "x-added")
	s := make([]uint64, 5)
	defer meterCPU(b).stop()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%64 == 0 {
			v.cur.x.Req.Header.Reset()
		}
		s[0], s[1], s[2], s[3], s[4] = 0, k, 7, k, 7
		if hAddHeaderMapValue(v, s) != 0 {
			b.Fatal("status")
		}
	}
}

func BenchmarkHostGetBody(b *testing.B) {
	v, done := benchVM(b)
	defer done()
	_, op, os := scratch(b, v, "")
	benchHostCall(b, v, hGetBufferBytes, 0, 0, 1<<20, op, os)
}

// BenchmarkInstanceCreate measures instantiating the plugin (compiled once)
// and its start-up (_initialize).
func BenchmarkInstanceCreate(b *testing.B) {
	p, _ := loadConformance(b, PluginConfig{})
	slot := p.eng.Slots()[0]
	defer meterCPU(b).stop()
	b.ReportAllocs()
	for b.Loop() {
		inst, err := slot.Lock(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		inst.Break() // discarded on Unlock: the next Lock instantiates
		slot.Unlock()
	}
}

// cpuMeter reports the process CPU time per op ("cpu-ns/op") next to the
// wall time: on a shared, noisy machine the wall time includes waiting for
// a core, the CPU time does not (it includes the GC and the runtime's
// helper threads, which are part of the cost).
type cpuMeter struct {
	b     *testing.B
	start time.Duration
}

func procCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func meterCPU(b *testing.B) *cpuMeter { return &cpuMeter{b: b, start: procCPU()} }

func (m *cpuMeter) stop() {
	if m.b.N > 0 {
		m.b.ReportMetric(float64(procCPU()-m.start)/float64(m.b.N), "cpu-ns/op")
	}
}

// loadPlugin builds plugins/<name> and loads it with one instance.
func loadPlugin(tb testing.TB, name string) *Plugin {
	tb.Helper()
	return loadPluginWith(tb, name, PluginConfig{})
}

// loadPluginWith loads plugins/<name> with cfg (name, wasm, pool size 1 and
// cache filled in).
func loadPluginWith(tb testing.TB, name string, cfg PluginConfig) *Plugin {
	tb.Helper()
	path, err := wasmbuild.Build("plugins/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Name, cfg.Wasm, cfg.PoolSize, cfg.CacheDir = name, wasm, 1, tb.TempDir()
	p, err := Load(context.Background(), cfg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close(context.Background()) })
	return p
}

// benchChain runs one GET through a filter chain of facs per iteration:
// request headers, response headers, log, done (no bodies).
func benchChain(b *testing.B, facs []filter.Factory, check func(*filter.Exchange)) {
	ctx := context.Background()
	x := &filter.Exchange{}
	m := meterCPU(b)
	b.ReportAllocs()
	for b.Loop() {
		x.Reset()
		x.Req.SetMethod([]byte("GET"))
		x.Req.SetPath([]byte("/bench"))
		x.Req.SetAuthority([]byte("example.com"))
		x.Req.SetScheme([]byte("http"))
		x.Req.Header.AddString("user-agent", "bench")
		x.Req.Header.AddString("accept", "*/*")
		c, err := filter.NewChain(x, facs, filter.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.RequestHeaders(ctx, true); err != nil {
			b.Fatal(err)
		}
		x.Resp.Status = 200
		x.Resp.Header.AddString("content-type", "text/plain")
		if err := c.ResponseHeaders(ctx, true); err != nil {
			b.Fatal(err)
		}
		c.Log()
		c.Done()
	}
	m.stop()
	if check != nil {
		check(x)
	}
}

// BenchmarkRequestNoPlugin is the filter chain with no plugin, the floor
// BenchmarkRequestHeadersPlugin is compared with.
func BenchmarkRequestNoPlugin(b *testing.B) { benchChain(b, nil, nil) }

// BenchmarkRequestHeadersPlugin is one request through plugins/headers (the
// repo SDK, header callbacks only: one set on the request, one add on the
// response) via filter.Chain: the "header-only plugin" of issue 6.
func BenchmarkRequestHeadersPlugin(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  PluginConfig
	}{
		{"interruptible", PluginConfig{}},
		// call_timeout: 0 — no termination checks (trusted plugins).
		{"uninterruptible", PluginConfig{Uninterruptible: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := loadPluginWith(b, "headers", bc.cfg)
			f, err := p.NewFactory(context.Background(), "r1", []byte(`{"request":{"set":{"x-gateway":"heimdall"}},"response":{"add":{"x-served-by":"heimdall"}}}`))
			if err != nil {
				b.Fatal(err)
			}
			benchChain(b, []filter.Factory{f}, func(x *filter.Exchange) {
				if hdr(&x.Req.Header, "x-gateway") != "heimdall" || hdr(&x.Resp.Header, "x-served-by") != "heimdall" {
					b.Fatalf("plugin did not run: %v / %v", x.Req.Header, x.Resp.Header)
				}
			})
		})
	}
}

// BenchmarkRequestHeimdallPlugin is one GET through plugins/heimdall (repo
// SDK; reads both header maps, logs every header, sets two properties) with
// its log lines discarded by the host.
func BenchmarkRequestHeimdallPlugin(b *testing.B) {
	p := loadPlugin(b, "heimdall")
	f, err := p.NewFactory(context.Background(), "r1", nil)
	if err != nil {
		b.Fatal(err)
	}
	benchChain(b, []filter.Factory{f}, nil)
}
