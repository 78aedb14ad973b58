package host

import (
	"context"
	"testing"

	"github.com/heimdallgw/heimdall/internal/filter"
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
	s := make([]uint64, 5)
	b.ReportAllocs()
	for b.Loop() {
		s[0], s[1], s[2], s[3], s[4] = 0, k, 10, op, os
		if hGetHeaderMapValue(v, s) != 0 {
			b.Fatal("status")
		}
	}
}

func BenchmarkHostGetPairs(b *testing.B) {
	v, done := benchVM(b)
	defer done()
	_, op, os := scratch(b, v, "")
	s := make([]uint64, 3)
	b.ReportAllocs()
	for b.Loop() {
		s[0], s[1], s[2] = 0, op, os
		if hGetHeaderMapPairs(v, s) != 0 {
			b.Fatal("status")
		}
	}
}

func BenchmarkHostAddHeader(b *testing.B) {
	v, done := benchVM(b)
	defer done()
	k, _, _ := scratch(b, v, "x-added")
	s := make([]uint64, 5)
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
	s := make([]uint64, 5)
	b.ReportAllocs()
	for b.Loop() {
		s[0], s[1], s[2], s[3], s[4] = 0, 0, 1<<20, op, os
		if hGetBufferBytes(v, s) != 0 {
			b.Fatal("status")
		}
	}
}

// BenchmarkInstanceCreate measures instantiating the plugin (compiled once)
// and its start-up (_initialize).
func BenchmarkInstanceCreate(b *testing.B) {
	p, _ := loadConformance(b, PluginConfig{})
	slot := p.eng.Slots()[0]
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
