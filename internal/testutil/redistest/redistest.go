// Package redistest finds the redis-server that tests of the native Redis
// ABI and of plugins speaking RESP over sockets need. Nothing skips: a test
// that needs Redis either gets one or fails saying how to start one.
package redistest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// HowTo tells how to get the redis-server these tests need.
const HowTo = "start it with scripts/test-deps.sh (which `make test` runs; it installs the Debian package " +
	"redis-server if needed) or `redis-server --port 6379 --bind 127.0.0.1 --save '' --daemonize yes`"

// TB is the part of testing.TB that AddrFor uses (a stub in tests of it).
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
}

// Addr returns a reachable redis-server for the test (see AddrFor).
func Addr(t testing.TB) string {
	t.Helper()
	return AddrFor(t, os.Getenv)
}

// AddrFor: 127.0.0.1:$HEIMDALL_TEST_REDIS_PORT (default 6379) when it
// answers PING. Under CI=true an unreachable redis fails the test (CI must
// have run scripts/test-deps.sh). Elsewhere a private redis-server is
// started on a free port when the binary is installed, and stopped when the
// test ends; if not, the test fails with how to get one. Nothing skips.
func AddrFor(t TB, getenv func(string) string) string {
	t.Helper()
	port := getenv("HEIMDALL_TEST_REDIS_PORT")
	if port == "" {
		port = "6379"
	}
	addr := net.JoinHostPort("127.0.0.1", port)
	err := Ping(addr)
	if err == nil {
		return addr
	}
	if getenv("CI") == "true" {
		t.Fatalf("CI=true and redis-server is not reachable on %s (%v): %s", addr, err, HowTo)
		return ""
	}
	bin, lerr := exec.LookPath("redis-server")
	if lerr != nil {
		t.Fatalf("redis-server is not reachable on %s (%v) and not installed: %s", addr, err, HowTo)
		return ""
	}
	ln, lerr := net.Listen("tcp", "127.0.0.1:0")
	if lerr != nil {
		t.Fatalf("%v", lerr)
		return ""
	}
	own := ln.Addr().String()
	ln.Close()
	_, p, _ := net.SplitHostPort(own)
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", p, "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
		return ""
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for Ping(own) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the redis-server started for the test does not answer on %s", own)
			return ""
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("nothing on %s; started redis-server on %s", addr, own)
	return own
}

// Ping sends PING to the redis-server at addr.
func Ping(addr string) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, MaxRetries: -1})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return rdb.Ping(ctx).Err()
}
