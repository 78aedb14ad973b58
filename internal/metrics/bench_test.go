package metrics_test

import (
	"context"
	"io"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/metrics"
	"github.com/heimdallgw/heimdall/internal/proxy"
)

// BenchmarkObserve is the metrics cost of one request alone: what
// Route.ObserveRequest does at Stream.Close (3 histograms, 3 counters, the
// live totals), series already resolved.
func BenchmarkObserve(b *testing.B) {
	m := metrics.New(metrics.Options{})
	r := m.Route(metrics.RouteInfo{ID: "1", URI: "/*"})
	x := &filter.Exchange{Upstream: "127.0.0.1:8080"}
	o := &proxy.Observation{X: x, Status: 200, RequestBytes: 120, ResponseBytes: 300,
		Duration: 800 * time.Microsecond, Upstream: 500 * time.Microsecond, Upstreamed: true}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			r.ObserveRequest(o)
		}
	})
	// All cores on one route's series: the atomics' cache lines bounce.
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r.ObserveRequest(o)
			}
		})
	})
}

// BenchmarkProxyMetrics is internal/proxy's BenchmarkProxy (one GET through
// Proxy.Serve, no filters, a fasthttp upstream on loopback) with metrics
// off and on: the difference is what metrics cost a request, including the
// proxy's side (head sizes, two time.Now calls).
func BenchmarkProxyMetrics(b *testing.B) {
	addr := fastUpstream(b)
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			p := benchProxy(b, addr, on)
			ctx := context.Background()
			var (
				method = []byte("GET")
				path   = []byte("/bench?x=1")
				host   = []byte("gw.example")
				scheme = []byte("http")
			)
			buf := make([]byte, 4096)
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				s := p.NewStream()
				x := &s.X
				x.Req.SetMethod(method)
				x.Req.SetPath(path)
				x.Req.SetAuthority(host)
				x.Req.SetScheme(scheme)
				x.Req.Proto = "HTTP/1.1"
				x.Req.Header.AddString("user-agent", "bench")
				x.Req.Header.AddString("accept", "*/*")
				x.Client, x.ClientIP, x.Local = "127.0.0.1:5555", "127.0.0.1", "127.0.0.1:9080"
				p.Serve(ctx, s)
				if x.Resp.Status != 200 {
					b.Fatalf("status %d", x.Resp.Status)
				}
				for {
					_, err := s.Read(buf)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				s.Close()
			}
			// Process CPU (this loop, the upstream, the runtime) per
			// request: less disturbed than wall time by other load.
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func fastUpstream(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("hello, world") }}
	go s.Serve(l)                      //nolint:errcheck
	b.Cleanup(func() { s.Shutdown() }) //nolint:errcheck
	return l.Addr().String()
}

func benchProxy(b *testing.B, addr string, withMetrics bool) *proxy.Proxy {
	host, port, _ := net.SplitHostPort(addr)
	pn, _ := strconv.Atoi(port)
	u, err := proxy.NewUpstream(&config.Upstream{ID: "u", Nodes: []config.Node{{Host: host, Port: pn, Weight: 1}}, Retries: -1}, proxy.UpstreamOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { u.Close() })
	route := &proxy.Route{ID: "r", Upstream: u}
	var opts proxy.Options
	if withMetrics {
		m := metrics.New(metrics.Options{})
		opts.Observer = m.Unmatched()
		route.Observer = m.Route(metrics.RouteInfo{ID: "r", URI: "/*"})
	}
	p := proxy.New(opts)
	p.SetRoutes(proxy.NewTable(func(_, _, _ []byte) *proxy.Route { return route }))
	return p
}
