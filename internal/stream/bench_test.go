package stream

import (
	"io"
	"net"
	"testing"

	"github.com/heimdallgw/heimdall/internal/config"
)

// BenchmarkProxyBytes streams 64 KiB writes through the proxy to a server
// that discards them, reporting bytes/s (b.SetBytes) — the baseline the
// network-filter benchmark compares to (issue 17: ≤ 1.5×).
func BenchmarkProxyBytes(b *testing.B) {
	sink, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	go func() {
		for {
			c, err := sink.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	p := New(nil, 0)
	up := &config.Upstream{Nodes: []config.Node{{Host: "127.0.0.1", Port: sink.Addr().(*net.TCPAddr).Port, Weight: 1}}}
	p.Update([]*config.StreamRoute{{ID: "b", Upstream: up}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go p.Serve(ln)
	defer p.Shutdown(b.Context())
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}
