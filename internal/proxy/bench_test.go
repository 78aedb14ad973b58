package proxy_test

import (
	"context"
	"io"
	"net"
	"strconv"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/proxy"
	"github.com/heimdallgw/heimdall/internal/server"
)

// fastUpstream is a minimal fasthttp upstream answering a small body.
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

func benchProxy(b *testing.B, addr string) *proxy.Proxy {
	host, port, _ := net.SplitHostPort(addr)
	pn, _ := strconv.Atoi(port)
	u, err := proxy.NewUpstream(&config.Upstream{ID: "u", Nodes: []config.Node{{Host: host, Port: pn, Weight: 1}}, Retries: -1}, proxy.UpstreamOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { u.Close() })
	route := &proxy.Route{ID: "r", Upstream: u}
	p := proxy.New(proxy.Options{})
	p.SetRoutes(proxy.NewTable(func(_, _, _ []byte) *proxy.Route { return route }))
	return p
}

// BenchmarkProxy is one GET through Proxy.Serve with no filters, as an
// engine drives it, against a fasthttp upstream on loopback (so the numbers
// include the upstream's and the loopback's cost).
func BenchmarkProxy(b *testing.B) {
	p := benchProxy(b, fastUpstream(b))
	ctx := context.Background()
	var (
		method = []byte("GET")
		path   = []byte("/bench?x=1")
		host   = []byte("gw.example")
		scheme = []byte("http")
	)
	buf := make([]byte, 4096)
	b.ReportAllocs()
	b.ResetTimer()
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
}

// BenchmarkProxyHTTP is the same request end to end: a fasthttp client, the
// gateway's HTTP/1.1 listener, the proxy and the upstream, all in process.
func BenchmarkProxyHTTP(b *testing.B) {
	p := benchProxy(b, fastUpstream(b))
	srv := server.New(server.Config{}, p)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)                                          //nolint:errcheck
	b.Cleanup(func() { srv.Shutdown(context.Background()) }) //nolint:errcheck
	c := &fasthttp.HostClient{Addr: l.Addr().String()}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://" + l.Addr().String() + "/bench?x=1")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
			b.Fatalf("%v %d", err, resp.StatusCode())
		}
	}
}
