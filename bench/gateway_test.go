package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/gateway"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

// BenchmarkGateway is one request through the whole gateway in this
// process (fasthttp listener, proxy, filter chain, upstream keep-alive pool)
// over a real loopback connection to an in-process fasthttp upstream, one
// request at a time on one keep-alive connection. Its B/op and allocs/op
// are the gateway's allocations per request (the client and the upstream
// add next to none); the side-by-side harness has the CPU and latency.
func BenchmarkGateway(b *testing.B) {
	up := startUpstream(b)
	for _, v := range []struct {
		name, plugin, conf string
		post               []byte
	}{
		{name: "none"},
		{name: "headers", plugin: "headers", conf: headersConf},
		{name: "heimdall", plugin: "heimdall", conf: `{"max_body_bytes": 4096}`},
		{name: "none/post-1KiB", post: jsonBody(1 << 10)},
		{name: "jsonmask/post-1KiB", plugin: "jsonmask", conf: `{"fields": ["password", "ssn"]}`, post: jsonBody(1 << 10)},
	} {
		b.Run(v.name, func(b *testing.B) {
			addr := startGateway(b, up, v.plugin, v.conf)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := []byte("GET /get HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\n\r\n")
			if v.post != nil {
				req = fmt.Appendf(nil, "POST /echo HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(v.post), v.post)
			}
			br := bufio.NewReaderSize(c, 64<<10)
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseResponse(resp)
			do := func() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if err := resp.Read(br); err != nil {
					b.Fatal(err)
				}
				if resp.StatusCode() != 200 {
					b.Fatalf("status %d: %s", resp.StatusCode(), resp.Body())
				}
			}
			for range 100 { // warm the pools
				do()
			}
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				do()
			}
			cpu.report(b)
		})
	}
}

// startUpstream serves GET with 128 bytes and echoes POST bodies as JSON.
func startUpstream(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	body := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	s := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) {
		if c.IsPost() {
			c.SetContentType("application/json")
			c.SetBody(c.PostBody())
			return
		}
		c.SetContentType("text/plain")
		c.SetBody(body)
	}}
	go s.Serve(ln) //nolint:errcheck // ends with Shutdown
	b.Cleanup(func() { _ = s.Shutdown() })
	return ln.Addr().String()
}

// startGateway runs gateway.Run with one route to upstream, the plugin on
// it when not empty, logs discarded, and returns the listener address.
func startGateway(b *testing.B, upstream, plugin, conf string) string {
	dir := b.TempDir()
	mainYAML := "apisix:\n  node_listen:\n    - ip: 127.0.0.1\n      port: 9080\n" +
		"deployment:\n  role: data_plane\n  role_data_plane:\n    config_provider: yaml\n" +
		"nginx_config:\n  error_log_level: warn\n" +
		"heimdall:\n  access_log:\n    enable: false\n  graceful_shutdown_timeout: 1s\n"
	routes := "routes:\n  - id: 1\n    uri: /*\n    upstream_id: 1\n"
	if plugin != "" {
		mainYAML += fmt.Sprintf("wasm:\n  plugins:\n    - name: %s\n      priority: 1000\n      file: %s\n", plugin, wasmbuild.MustBuild(b, "plugins/"+plugin))
		routes += fmt.Sprintf("    plugins:\n      %s:\n        conf: %s\n", plugin, conf)
	}
	routes += fmt.Sprintf("upstreams:\n  - id: 1\n    nodes:\n      %q: 1\n#END\n", upstream)
	cfg := filepath.Join(dir, "config.yaml")
	for name, data := range map[string]string{cfg: mainYAML, filepath.Join(dir, "apisix.yaml"): routes} {
		if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	m, err := config.LoadMain(cfg)
	if err != nil {
		b.Fatal(err)
	}
	m.APISIX.NodeListen = []config.Listen{{IP: "127.0.0.1", Port: 0}} // any free port
	m.PluginAttr.Prometheus.ExportAddr = config.Listen{IP: "127.0.0.1", Port: 0}
	logs, err := gateway.NewLogs(m, io.Discard, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(b.Context()))
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- gateway.Run(ctx, m, logs, gateway.RunOptions{Ready: func(plain, _ []net.Addr) { ready <- plain[0].String() }})
	}()
	b.Cleanup(func() {
		cancel()
		<-done
		_ = logs.Close()
	})
	select {
	case addr := <-ready:
		return addr
	case err := <-done:
		b.Fatalf("gateway: %v", err)
	case <-time.After(2 * time.Minute):
		b.Fatal("gateway did not start")
	}
	return ""
}
