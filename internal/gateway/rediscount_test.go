package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/testutil/gwtest"
	"github.com/heimdallgw/heimdall/internal/testutil/redistest"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

// Native Redis ABI (proxy_redis_init / proxy_redis_call) through the real
// gateway: plugins/rediscount with a network policy from config.yaml.

// redisCmd runs one command on a fresh connection and returns the reply line.
func redisCmd(t *testing.T, addr string, args ...string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(line, "$") && line != "$-1\r\n" {
		v, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimRight(v, "\r\n")
	}
	return strings.TrimRight(line, "\r\n")
}

// rediscountMain is config.yaml's wasm section for rediscount with network
// (the body of the network section, "" for none).
func rediscountMain(t *testing.T, network string) string {
	t.Helper()
	s := "heimdall:\n  wasm_cache_dir: off\nwasm:\n  plugins:\n    - name: rediscount\n      priority: 1000\n      pool_size: 4\n      file: " +
		wasmbuild.MustBuild(t, "plugins/rediscount") + "\n"
	if network != "" {
		s += "      network:\n        " + network + "\n"
	}
	return s
}

func rediscountRoute(conf string) string {
	return fmt.Sprintf("    plugins:\n      rediscount:\n        conf: '%s'\n", conf)
}

func TestGatewayRedisCountConcurrent(t *testing.T) {
	addr := redistest.Addr(t)
	key := fmt.Sprintf("heimdall:test:gateway:%d", time.Now().UnixNano())
	t.Cleanup(func() { redisCmd(t, addr, "DEL", key) })
	_, port, _ := net.SplitHostPort(addr)
	g := startGateway(t, rediscountMain(t, `allow: ["127.0.0.1/32:`+port+`"]`),
		routesYAML("/*", upstream(t), rediscountRoute(fmt.Sprintf(`{"cluster": "%s", "key": "%s", "timeout_ms": 5000}`, addr, key))))

	const clients, perClient = 8, 250
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	counts := make(chan string, clients*perClient)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perClient; i++ {
				resp, err := client.Get(g.base + "/get")
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("status %d", resp.StatusCode)
					return
				}
				counts <- resp.Header.Get("x-redis-count")
			}
		}()
	}
	wg.Wait()
	close(counts)
	seen := map[int]bool{}
	for c := range counts {
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 || n > clients*perClient || seen[n] {
			t.Fatalf("x-redis-count %q (invalid or repeated)", c)
		}
		seen[n] = true
	}
	if len(seen) != clients*perClient {
		t.Fatalf("%d distinct counts, want %d\n%s", len(seen), clients*perClient, g.log)
	}
	if got := redisCmd(t, addr, "GET", key); got != strconv.Itoa(clients*perClient) {
		t.Fatalf("counter %q, want %d", got, clients*perClient)
	}
}

func TestGatewayRedisPolicyRefusal(t *testing.T) {
	addr := redistest.Addr(t)
	for _, tc := range []struct{ name, network string }{
		{"no network section", ""},
		{"address not allowed", `allow: ["10.0.0.0/8"]`},
		{"loopback needs an explicit entry", `allow: ["0.0.0.0/0"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, rediscountMain(t, tc.network),
				routesYAML("/*", upstream(t), rediscountRoute(fmt.Sprintf(`{"cluster": "%s"}`, addr))))
			code, body := get(t, g.base+"/get")
			if code != 503 || !strings.Contains(body, "redis call refused") {
				t.Fatalf("GET = %d %q", code, body)
			}
			l := g.log.String()
			for _, want := range []string{
				`msg="plugin network access refused" plugin=rediscount op=redis_init destination=` + addr,
				"rediscount: redis init " + addr + ": proxy_redis_init: ",
			} {
				if !strings.Contains(l, want) {
					t.Errorf("log lacks %q:\n%s", want, l)
				}
			}
		})
	}
}

func TestGatewayRedisDown(t *testing.T) {
	dead := "127.0.0.1:" + strconv.Itoa(gwtest.FreePort(t))
	g := startGateway(t, rediscountMain(t, `allow: ["127.0.0.1/32"]`),
		routesYAML("/*", upstream(t), rediscountRoute(fmt.Sprintf(`{"cluster": "%s", "timeout_ms": 500}`, dead))))
	for i := 0; i < 5; i++ {
		code, body := get(t, g.base+"/get")
		if code != 503 || !strings.Contains(body, "redis unavailable") {
			t.Fatalf("GET = %d %q", code, body)
		}
	}
	if l := g.log.String(); !strings.Contains(l, "wasm redis_call failed") || !strings.Contains(l, "destination="+dead) {
		t.Errorf("log:\n%s", l)
	}
}

// TestGatewayRedisNamedUpstream: an apisix.yaml upstream id is the
// operator's: rediscount reaches the real Redis through it with no network
// section at all (its node is on loopback), and network.upstreams listing
// only another id refuses it (503, one refusal line naming the upstream).
func TestGatewayRedisNamedUpstream(t *testing.T) {
	addr := redistest.Addr(t)
	key := fmt.Sprintf("heimdall:test:gateway:named:%d", time.Now().UnixNano())
	t.Cleanup(func() { redisCmd(t, addr, "DEL", key) })
	routes := routesYAML("/*", upstream(t), rediscountRoute(fmt.Sprintf(`{"cluster": "redis", "key": "%s"}`, key))+
		fmt.Sprintf("upstreams:\n  - id: redis\n    nodes:\n      %q: 1\n", addr))

	t.Run("allowed by default", func(t *testing.T) {
		g := startGateway(t, rediscountMain(t, ""), routes)
		for i := 1; i <= 3; i++ {
			resp, err := http.Get(g.base + "/get")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("x-redis-count") != strconv.Itoa(i) {
				t.Fatalf("GET %d = %d, x-redis-count %q\n%s", i, resp.StatusCode, resp.Header.Get("x-redis-count"), g.log)
			}
		}
	})
	t.Run("narrowed", func(t *testing.T) {
		g := startGateway(t, rediscountMain(t, `upstreams: [other]`), routes)
		code, body := get(t, g.base+"/get")
		if code != 503 || !strings.Contains(body, "redis call refused") {
			t.Fatalf("GET = %d %q", code, body)
		}
		want := `msg="plugin network access refused" plugin=rediscount op=redis_init destination="upstream redis" reason="upstream not in network.upstreams"`
		if l := g.log.String(); strings.Count(l, want) != 1 {
			t.Fatalf("log has %d lines %s, want 1:\n%s", strings.Count(l, want), want, l)
		}
	})
}
