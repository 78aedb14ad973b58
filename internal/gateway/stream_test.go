package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/testutil/gwtest"
	"github.com/heimdallgw/heimdall/internal/testutil/logbuf"
	"github.com/heimdallgw/heimdall/internal/testutil/redistest"
)

// startStreamGateway runs the gateway with one stream_proxy.tcp listener on
// an ephemeral loopback port and returns it with that listener's address.
func startStreamGateway(t *testing.T, routes string) (*gw, string) {
	t.Helper()
	m, dir := gwtest.Load(t, "apisix:\n  node_listen: 9080\n  stream_proxy:\n    tcp: [9100]\nnginx_config:\n  error_log_level: info\n", routes)
	gwtest.Loopback(m, 0)
	m.APISIX.StreamProxy.TCP = []config.Listen{{IP: "127.0.0.1"}}
	g := &gw{dir: dir, log: &logbuf.Buffer{}, access: &logbuf.Buffer{}}
	logs := &Logs{
		Error:  slog.New(slog.NewTextHandler(g.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Access: slog.New(slog.NewTextHandler(g.access, nil)),
	}
	streamAddr := make(chan string, 1)
	r := gwtest.Start(t, g.log, func(ctx context.Context, ready func(plain, tls []net.Addr)) error {
		return Run(ctx, m, logs, RunOptions{
			ReloadInterval: 20 * time.Millisecond,
			Ready:          ready,
			StreamReady:    func(a []net.Addr) { streamAddr <- a[0].String() },
		})
	})
	g.base, g.stop = r.URL, r.Stop
	return g, <-streamAddr
}

func streamRoutesYAML(node string) string {
	return fmt.Sprintf("stream_routes:\n  - id: s1\n    upstream:\n      nodes:\n        \"%s\": 1\n#END\n", node)
}

// TestGatewayStreamRedis: a go-redis client talks to the real redis-server
// through a stream route of the running gateway; after apisix.yaml points
// the stream route elsewhere, new connections follow and the open one
// keeps its upstream.
func TestGatewayStreamRedis(t *testing.T) {
	raddr := redistest.Addr(t)
	g, addr := startStreamGateway(t, streamRoutesYAML(raddr))
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1})
	defer c.Close()
	key := fmt.Sprintf("heimdall:test:stream:%d", time.Now().UnixNano())
	defer redisCmd(t, raddr, "DEL", key)
	if err := c.Set(ctx, key, "through-the-gateway", time.Minute).Err(); err != nil {
		t.Fatalf("SET through the stream route: %v", err)
	}
	if v := redisCmd(t, raddr, "GET", key); v != "through-the-gateway" {
		t.Fatalf("redis has %q, want the value set through the gateway", v)
	}

	// Hot reload: the stream route now goes to a line server.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "other\n")
			c.Close()
		}
	}()
	gwtest.WriteFile(t, filepath.Join(g.dir, "apisix.yaml"), streamRoutesYAML(ln.Addr().String()))
	waitFor(t, "the new stream route", func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		b, _ := io.ReadAll(c)
		return string(b) == "other\n"
	})
	// The pooled go-redis connection still reaches redis.
	if v, err := c.Get(ctx, key).Result(); err != nil || v != "through-the-gateway" {
		t.Fatalf("GET on the connection opened before the reload = %q, %v", v, err)
	}
	// An invalid stream route keeps the current ones serving.
	gwtest.WriteFile(t, filepath.Join(g.dir, "apisix.yaml"), "stream_routes:\n  - id: s1\n    remote_addr: nope\n#END\n")
	waitFor(t, "the error to be logged", func() bool { return strings.Contains(g.log.String(), `invalid remote_addr \"nope\"`) })
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetDeadline(time.Now().Add(2 * time.Second))
	if b, _ := io.ReadAll(c2); string(b) != "other\n" {
		t.Fatalf("after an invalid reload got %q, want the previous stream route", b)
	}
}
