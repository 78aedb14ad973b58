package limitcount

import (
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/filter"
)

func newPlugin(t testing.TB, cfg config.LimitCount) *Plugin {
	t.Helper()
	if cfg.RejectedCode == 0 {
		cfg.RejectedCode = 503
	}
	p, err := New("r1", &cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// request runs one request through p; it returns the local response (nil:
// passed) and the stream.
func request(t testing.TB, p *Plugin, x *filter.Exchange) (*filter.LocalResponse, *stream) {
	f, _ := p.NewStreamFilter(x)
	s := f.(*stream)
	s.OnRequestHeaders(x, true)
	return x.LocalResponse(), s
}

func TestFixedWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	p := newPlugin(t, config.LimitCount{Count: 2, TimeWindow: 10, KeyType: config.KeyTypeVar, Key: "remote_addr", ShowLimitQuotaHeader: true})
	p.now = func() time.Time { return now }
	x := &filter.Exchange{ClientIP: "10.0.0.1"}
	for i := 0; i < 2; i++ {
		x.Reset()
		x.ClientIP = "10.0.0.1"
		if lr, s := request(t, p, x); lr != nil || s.remaining != 1-i || s.reset != 10-3*i {
			t.Fatalf("request %d: local %v remaining %d reset %d", i, lr, s.remaining, s.reset)
		}
		now = now.Add(3 * time.Second)
	}
	x.Reset()
	x.ClientIP = "10.0.0.1"
	lr, _ := request(t, p, x)
	if lr == nil || lr.Status != 503 {
		t.Fatalf("third request: %v", lr)
	}
	if v, _ := lr.Header.Get(HeaderReset); string(v) != "4" {
		t.Fatalf("reset = %s, want 4 (window started 6s ago)", v)
	}
	// Another client has its own window.
	x.Reset()
	x.ClientIP = "10.0.0.2"
	if lr, _ := request(t, p, x); lr != nil {
		t.Fatalf("other client rejected")
	}
	// The window ends: a new one starts.
	now = now.Add(4 * time.Second)
	x.Reset()
	x.ClientIP = "10.0.0.1"
	if lr, s := request(t, p, x); lr != nil || s.remaining != 1 {
		t.Fatalf("after the window: %v remaining %d", lr, s.remaining)
	}
}

func TestKeys(t *testing.T) {
	p := newPlugin(t, config.LimitCount{Count: 1, TimeWindow: 60, KeyType: config.KeyTypeVarCombination, Key: "$remote_addr $arg_user"})
	x := &filter.Exchange{ClientIP: "10.0.0.1"}
	x.Req.Path = []byte("/a?user=bob&x=1")
	if lr, _ := request(t, p, x); lr != nil {
		t.Fatal("first request rejected")
	}
	if _, ok := p.counters["10.0.0.1 bob"]; !ok {
		t.Fatalf("counters %v, want key %q", p.counters, "10.0.0.1 bob")
	}
	if _, err := New("r", &config.LimitCount{Count: 1, TimeWindow: 1, KeyType: config.KeyTypeVar, Key: "request_body"}); err == nil {
		t.Fatal("unsupported variable accepted")
	}
	c := newPlugin(t, config.LimitCount{Count: 1, TimeWindow: 60, KeyType: config.KeyTypeConstant, Key: "remote_addr"})
	request(t, c, &filter.Exchange{ClientIP: "10.0.0.1"})
	if lr, _ := request(t, c, &filter.Exchange{ClientIP: "10.0.0.2"}); lr == nil {
		t.Fatal("constant key: second client passed")
	}
}

// BenchmarkLimitCountLocal is the per-request cost of policy local on a hit
// (the budget is 1 µs CPU): creating the stream filter, counting, and the
// quota headers on the response.
func BenchmarkLimitCountLocal(b *testing.B) {
	p := newPlugin(b, config.LimitCount{Count: 1 << 30, TimeWindow: 60, KeyType: config.KeyTypeVar, Key: "remote_addr", ShowLimitQuotaHeader: true})
	x := &filter.Exchange{ClientIP: "10.0.0.1"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		x.Resp.Header.Reset()
		f, _ := p.NewStreamFilter(x)
		f.OnRequestHeaders(x, true)
		f.OnResponseHeaders(x, true)
	}
}
