package host

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heimdallgw/heimdall/internal/egress"
	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/testutil/logbuf"
	"github.com/heimdallgw/heimdall/internal/testutil/redistest"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
	"github.com/heimdallgw/heimdall/internal/wasm/engine"
)

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// rcCache compiles the plugin once per test binary.
var rcCache = sync.OnceValue(engine.NewMemoryCache)

var (
	rcOnce sync.Once
	rcWasm []byte
	rcErr  error
)

func rediscountWasm(t *testing.T) []byte {
	t.Helper()
	rcOnce.Do(func() {
		var p string
		if p, rcErr = wasmbuild.Build("plugins/rediscount"); rcErr == nil {
			rcWasm, rcErr = os.ReadFile(p)
		}
	})
	if rcErr != nil {
		t.Fatal(rcErr)
	}
	return rcWasm
}

// loadRediscount loads plugins/rediscount with the network policy allow
// (nil: no policy given to the host at all, which refuses every literal
// destination).
func loadRediscount(t *testing.T, allow []string, poolSize int) (*Plugin, *logbuf.Buffer) {
	t.Helper()
	lb := &logbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := PluginConfig{Name: "rediscount", Wasm: rediscountWasm(t), PoolSize: poolSize, Cache: rcCache()}
	if allow != nil {
		eg, err := egress.New(egress.Config{Plugin: "rediscount", Allow: allow, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Egress = eg
	}
	p, err := Load(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p, lb
}

func uniqueKey(t *testing.T) string {
	return fmt.Sprintf("heimdall:test:%s:%d", strings.ReplaceAll(t.Name(), "/", ":"), time.Now().UnixNano())
}

func redisClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// TestRedisCountConcurrent: 8 clients × 250 requests through filter.Chain on
// a pool of 4 instances; every request pauses on INCR and resumes in the
// callback. The counter ends at the request count and every response carries
// a distinct count.
func TestRedisCountConcurrent(t *testing.T) {
	addr := redistest.Addr(t)
	key := uniqueKey(t)
	rc := redisClient(t, addr)
	t.Cleanup(func() { rc.Del(context.Background(), key) })
	p, logs := loadRediscount(t, []string{"127.0.0.1/32:" + strings.Split(addr, ":")[1]}, 4)
	f := newFactory(t, p, fmt.Sprintf(`{"cluster": %q, "key": %q, "timeout_ms": 5000}`, addr, key))

	const clients, perClient = 8, 250
	counts := make(chan string, clients*perClient)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perClient; i++ {
				x := exchange("GET", "/count")
				r := run(t, []filter.Factory{f}, x, nil, nil, upstream{status: 200})
				if r.err != nil || r.local != nil {
					t.Errorf("request: err %v local %+v", r.err, r.local)
					return
				}
				counts <- hdr(&x.Resp.Header, "x-redis-count")
			}
		}()
	}
	wg.Wait()
	close(counts)
	seen := map[int]bool{}
	for c := range counts {
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 || n > clients*perClient || seen[n] {
			t.Fatalf("count %q (invalid or repeated)", c)
		}
		seen[n] = true
	}
	if len(seen) != clients*perClient {
		t.Fatalf("%d distinct counts, want %d\n%s", len(seen), clients*perClient, logs)
	}
	got, err := rc.Get(context.Background(), key).Int()
	if err != nil || got != clients*perClient {
		t.Fatalf("counter = %d, %v; want %d", got, err, clients*perClient)
	}
}

// TestRedisPolicyRefusal: without an allow entry for the address, init
// answers an error status (the plugin logs it), the refusal names plugin and
// destination, and each request's call fails at once (503).
func TestRedisPolicyRefusal(t *testing.T) {
	addr := redistest.Addr(t)
	for _, tc := range []struct {
		name  string
		allow []string
		log   string
	}{
		{"no network section", []string{}, "destination=" + addr},
		{"other address", []string{"127.0.0.2/32"}, "destination=" + addr},
		{"no policy given to the host", nil, "destination=" + addr + ` reason="no network policy"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, logs := loadRediscount(t, tc.allow, 1)
			f := newFactory(t, p, fmt.Sprintf(`{"cluster": %q}`, addr))
			r := run(t, []filter.Factory{f}, exchange("GET", "/"), nil, nil, upstream{status: 200})
			if r.local == nil || r.local.Status != 503 {
				t.Fatalf("want a 503 local response, got %+v err %v", r.local, r.err)
			}
			l := logs.String()
			for _, want := range []string{
				"plugin network access refused",
				"plugin=rediscount",
				tc.log,
				"rediscount: redis init " + addr + ": proxy_redis_init: ",
				"rediscount: INCR heimdall:rediscount on " + addr + ": proxy_redis_call: ",
			} {
				if !strings.Contains(l, want) {
					t.Errorf("log lacks %q:\n%s", want, l)
				}
			}
		})
	}
}

// TestRedisDown: a closed port (allowed by the policy): the call completes
// with an error status and the plugin answers 503; a server that accepts and
// never answers times out (timeout_ms) the same way. Neither hangs.
func TestRedisDown(t *testing.T) {
	closed := "127.0.0.1:" + strconv.Itoa(freePort(t))
	silent, stop := silentTCP(t)
	defer stop()
	for _, tc := range []struct{ name, addr, log string }{
		{"connection refused", closed, "refused"},
		{"no answer", silent, "deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, logs := loadRediscount(t, []string{"127.0.0.1/32"}, 1)
			f := newFactory(t, p, fmt.Sprintf(`{"cluster": %q, "timeout_ms": 300}`, tc.addr))
			for i := 0; i < 3; i++ {
				r := run(t, []filter.Factory{f}, exchange("GET", "/"), nil, nil, upstream{status: 200})
				if r.local == nil || r.local.Status != 503 || !strings.Contains(string(r.local.Body), "redis unavailable") {
					t.Fatalf("want 503 redis unavailable, got %+v err %v\n%s", r.local, r.err, logs)
				}
			}
			l := logs.String()
			if !strings.Contains(l, "wasm redis_call failed") || !strings.Contains(l, "destination="+tc.addr) || !strings.Contains(l, tc.log) {
				t.Errorf("log:\n%s", l)
			}
		})
	}
}

// silentTCP accepts connections and never answers.
func silentTCP(t *testing.T) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return ln.Addr().String(), func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}
}

// TestRedisErrorReplyPassesThrough: a Redis error reply is an answer (status
// 0) handed to the plugin as RESP, byte for byte.
func TestRedisErrorReplyPassesThrough(t *testing.T) {
	addr := redistest.Addr(t)
	key := uniqueKey(t)
	rc := redisClient(t, addr)
	if err := rc.Set(context.Background(), key, "not a number", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	p, logs := loadRediscount(t, []string{"127.0.0.1/32"}, 1)
	f := newFactory(t, p, fmt.Sprintf(`{"cluster": %q, "key": %q}`, addr, key))
	r := run(t, []filter.Factory{f}, exchange("GET", "/"), nil, nil, upstream{status: 200})
	if r.local == nil || r.local.Status != 503 || !strings.Contains(string(r.local.Body), "unexpected redis reply") {
		t.Fatalf("got %+v err %v\n%s", r.local, r.err, logs)
	}
	if want := `unexpected reply \"-ERR value is not an integer or out of range\\r\\n\"`; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %s:\n%s", want, logs)
	}
	if strings.Contains(logs.String(), "wasm redis_call failed") {
		t.Errorf("an error reply is not a failed call:\n%s", logs)
	}
}

func TestReadRESP(t *testing.T) {
	valid := []string{
		"+OK\r\n", "-ERR x\r\n", ":42\r\n", "$-1\r\n", "$0\r\n\r\n", "$5\r\nhe\r\no\r\n",
		"*-1\r\n", "*0\r\n", "*2\r\n$1\r\na\r\n:1\r\n", "*2\r\n*1\r\n+x\r\n$-1\r\n",
		"_\r\n", ",1.5\r\n", "#t\r\n", "(123\r\n", "=7\r\ntxt:abc\r\n", "%1\r\n+k\r\n:1\r\n", "~1\r\n+a\r\n",
	}
	for _, v := range valid {
		in := v + "+NEXT\r\n"
		got, err := readRESP(bufio.NewReader(strings.NewReader(in)), nil, 0)
		if err != nil || string(got) != v {
			t.Errorf("readRESP(%q) = %q, %v", in, got, err)
		}
	}
	for _, v := range []string{"", "+OK\n", "$3\r\nab\r\n", "$2\r\nabcd", "*2\r\n:1\r\n", "?x\r\n", "$x\r\n", ":1\r"} {
		if got, err := readRESP(bufio.NewReader(strings.NewReader(v)), nil, 0); err == nil {
			t.Errorf("readRESP(%q) = %q, want an error", v, got)
		}
	}
	deep := strings.Repeat("*1\r\n", redisMaxDepth+2) + ":1\r\n"
	if _, err := readRESP(bufio.NewReader(strings.NewReader(deep)), nil, 0); err == nil {
		t.Error("no error for a value nested too deeply")
	}
}

func TestRespCommand(t *testing.T) {
	for _, tc := range []struct {
		q, cmd string
		ok     bool
	}{
		{string(respArray("incr", "k")), "INCR", true},
		{string(respArray("SET", "k", "a\r\nb")), "SET", true},
		{string(respArray("GET", "k")) + string(respArray("GET", "k")), "", false}, // two commands
		{"PING\r\n", "", false},                                                    // inline command
		{"*0\r\n", "", false},                                                      // empty
		{"*1\r\n:1\r\n", "", false},                                                // not a bulk string
		{"*2\r\n$3\r\nGET\r\n", "", false},                                         // truncated
		{"$3\r\nGET\r\n", "", false},                                               // not an array
		{"*1\r\n$3\r\nGET\r\nxx", "", false},                                       // trailing bytes
	} {
		cmd, err := respCommand([]byte(tc.q))
		if (err == nil) != tc.ok || cmd != tc.cmd {
			t.Errorf("respCommand(%q) = %q, %v", tc.q, cmd, err)
		}
	}
	for _, c := range []string{"MULTI", "SUBSCRIBE", "SELECT", "AUTH", "CLIENT"} {
		if cmd, _ := respCommand(respArray(strings.ToLower(c), "x")); !redisDenied[cmd] {
			t.Errorf("%s is not denied", c)
		}
	}
	if !bytes.Equal(respArray("INCR", "hits"), []byte("*2\r\n$4\r\nINCR\r\n$4\r\nhits\r\n")) {
		t.Error("respArray")
	}
}

// TestRedisPoolReplaced: a pool replaced by a new init (other settings)
// still answers the calls made on it; closing the plugin ends the pools.
func TestRedisPoolReplaced(t *testing.T) {
	addr := redistest.Addr(t)
	host, port, _ := net.SplitHostPort(addr)
	pn, _ := strconv.Atoi(port)
	p := &Plugin{log: slog.New(slog.DiscardHandler)}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	eg, err := egress.New(egress.Config{Allow: []string{"127.0.0.1/32"}})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(timeout time.Duration) *redisPool {
		return &redisPool{p: p, eg: eg, upstream: "r", host: host, port: pn, timeout: timeout, sem: make(chan struct{}, redisMaxConns)}
	}
	old := mk(time.Second)
	p.setRedisPool("r", old)
	if reply, err := old.do(respArray("PING")); err != nil || string(reply) != "+PONG\r\n" {
		t.Fatalf("PING = %q, %v", reply, err)
	}
	p.setRedisPool("r", mk(2*time.Second))
	if p.redisPool("r") == old {
		t.Fatal("pool not replaced")
	}
	if reply, err := old.do(respArray("ECHO", "still")); err != nil || string(reply) != "$5\r\nstill\r\n" {
		t.Fatalf("replaced pool: %q, %v", reply, err)
	}
	if n := len(old.idle); n != 0 {
		t.Errorf("replaced pool keeps %d idle connections", n)
	}
	p.cancel()
	p.wg.Wait()
	if p.redisPool("r") != nil {
		t.Error("pools survive the plugin")
	}
	if _, err := old.do(respArray("PING")); err == nil {
		t.Error("call after the plugin closed succeeded")
	}
}
