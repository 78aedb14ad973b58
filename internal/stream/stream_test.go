package stream

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/testutil/redistest"
)

func nodeUpstream(t *testing.T, addrs ...string) *config.Upstream {
	t.Helper()
	u := &config.Upstream{Timeout: config.Timeout{Connect: time.Second}}
	for _, a := range addrs {
		h, ps, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(ps)
		u.Nodes = append(u.Nodes, config.Node{Host: h, Port: port, Weight: 1})
	}
	return u
}

// serve starts p on a fresh loopback listener and returns its address.
func serve(t *testing.T, p *Proxy) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// TestRedisThroughProxy: a real redis-server behind a stream route answers
// a go-redis client, including a pipeline, through the proxy.
func TestRedisThroughProxy(t *testing.T) {
	raddr := redistest.Addr(t)
	p := New(nil, 0)
	p.Update([]*config.StreamRoute{{ID: "redis", Upstream: nodeUpstream(t, raddr)}})
	addr := serve(t, p)

	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	key := "heimdall:stream:" + strconv.FormatInt(time.Now().UnixNano(), 36)
	defer c.Del(ctx, key)
	if err := c.Set(ctx, key, "v1", time.Minute).Err(); err != nil {
		t.Fatalf("SET through proxy: %v", err)
	}
	if v, err := c.Get(ctx, key).Result(); err != nil || v != "v1" {
		t.Fatalf("GET = %q, %v; want v1", v, err)
	}
	pipe := c.Pipeline()
	incr := make([]*redis.IntCmd, 50)
	for i := range incr {
		incr[i] = pipe.Incr(ctx, key+":n")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	defer c.Del(ctx, key+":n")
	for i, cmd := range incr {
		if cmd.Val() != int64(i+1) {
			t.Fatalf("INCR #%d = %d, want %d", i, cmd.Val(), i+1)
		}
	}
}

// echoServer answers with what it read, after the client's EOF, then
// closes: it only works if the proxy half-closes instead of closing.
func echoServer(t *testing.T, prefix string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				c.Write(append([]byte(prefix), b...))
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(t *testing.T, addr, msg string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

func TestHalfClose(t *testing.T) {
	p := New(nil, 0)
	p.Update([]*config.StreamRoute{{ID: "e", Upstream: nodeUpstream(t, echoServer(t, "a:"))}})
	addr := serve(t, p)
	if got := roundTrip(t, addr, "hello"); got != "a:hello" {
		t.Fatalf("got %q, want a:hello", got)
	}
}

// TestMatchAndReload: remote_addr and server_port select the route in
// declaration order; Update swaps routes for new connections.
func TestMatchAndReload(t *testing.T) {
	a, b := echoServer(t, "a:"), echoServer(t, "b:")
	p := New(nil, 0)
	addr := serve(t, p)
	_, ps, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(ps)

	p.Update([]*config.StreamRoute{
		{ID: "other-net", HasRemoteAddr: true, RemoteAddr: netip.MustParsePrefix("10.0.0.0/8"), Upstream: nodeUpstream(t, b)},
		{ID: "other-port", ServerPort: port + 1, Upstream: nodeUpstream(t, b)},
		{ID: "this", HasRemoteAddr: true, RemoteAddr: netip.MustParsePrefix("127.0.0.0/8"), ServerAddr: "127.0.0.1", ServerPort: port, Upstream: nodeUpstream(t, a)},
	})
	if got := roundTrip(t, addr, "x"); got != "a:x" {
		t.Fatalf("got %q, want a:x (route \"this\")", got)
	}
	p.Update([]*config.StreamRoute{{ID: "b", Upstream: nodeUpstream(t, b)}})
	if got := roundTrip(t, addr, "x"); got != "b:x" {
		t.Fatalf("after reload got %q, want b:x", got)
	}
	p.Update(nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil || n != 0 {
		t.Fatalf("no routes: read %d bytes, %v; want the connection closed", n, err)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("no routes: connection left open")
	}
}

// TestConnectRetry: a refused node is skipped for the next one.
func TestConnectRetry(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	p := New(nil, 0)
	p.Update([]*config.StreamRoute{{ID: "r", Upstream: nodeUpstream(t, deadAddr, echoServer(t, "a:"))}})
	addr := serve(t, p)
	for i := 0; i < 4; i++ {
		if got := roundTrip(t, addr, "x"); got != "a:x" {
			t.Fatalf("attempt %d: got %q, want a:x", i, got)
		}
	}
}

// TestIdleTimeout: a connection where nobody sends is closed.
func TestIdleTimeout(t *testing.T) {
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
			defer c.Close()
		}
	}()
	p := New(nil, 200*time.Millisecond)
	p.Update([]*config.StreamRoute{{ID: "r", Upstream: nodeUpstream(t, ln.Addr().String())}})
	addr := serve(t, p)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read = %v, want EOF from the idle timeout", err)
	}
}

// TestShutdownForcesAfterContext: Shutdown waits for live connections and
// closes them when its context ends.
func TestShutdownForcesAfterContext(t *testing.T) {
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
			defer c.Close()
		}
	}()
	p := New(nil, 0)
	p.Update([]*config.StreamRoute{{ID: "r", Upstream: nodeUpstream(t, ln.Addr().String())}})
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go p.Serve(pl)
	c, err := net.Dial("tcp", pl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("x"))
	time.Sleep(50 * time.Millisecond) // let the proxy dial the upstream
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := p.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded (a live connection)", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection still open after forced shutdown")
	}
	if _, err := net.Dial("tcp", pl.Addr().String()); err == nil {
		t.Fatal("listener still accepting after Shutdown")
	}
}
