package network

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heimdallgw/heimdall/internal/testutil/gwtest"
	"github.com/heimdallgw/heimdall/internal/testutil/redistest"
)

// TestRedisThroughGateway: the seed's redis plugin with the real
// redis-server: OnPluginStart logs `redis key value: foobar`; under 8
// concurrent clients × 200 requests every response carries its own count
// (x-request-count, no duplicates, exactly 1..1600) and the counter in Redis
// ends at exactly the number of requests.
func TestRedisThroughGateway(t *testing.T) {
	addr := redistest.Addr(t)
	up := gwtest.HTTPBin(t)
	prefix := fmt.Sprintf("heimdall-e2e-network:%d:%d:", os.Getpid(), time.Now().UnixNano())
	key, counter := prefix+"key", prefix+"requests"
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() {
		rdb.Del(context.Background(), key, counter)
		rdb.Close()
	})

	conf := fmt.Sprintf(`{"addr": %q, "key": %q, "counter_key": %q}`, addr, key, counter)
	g := startGateway(t, 0,
		mainYAML(t, 0, plugin{name: "redis", poolSize: 4,
			network: fmt.Sprintf("allow: [\"127.0.0.1/32:%d\"]\nmax_sockets: 2\ndeadline: 1s\n", portOf(t, addr))}),
		routesYAML(route{id: "count", uri: "/anything/*", upstream: up.Listener.Addr().String(), plugin: "redis", conf: conf}))
	waitLog(t, g.logs, map[string]string{"plugin": "redis", "msg": "redis key value: foobar"})
	if v, err := rdb.Get(context.Background(), key).Result(); err != nil || v != "foobar" {
		t.Fatalf("GET %s natively = %q, %v", key, v, err)
	}

	const clients, perClient = 8, 200
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	var mu sync.Mutex
	seen := make(map[int64]int, clients*perClient) // count -> client that got it
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perClient; i++ {
				n, err := countedGet(client, fmt.Sprintf("%s/anything/%d/%d", g.base, c, i))
				if err != nil {
					t.Errorf("client %d request %d: %v", c, i, err)
					return
				}
				mu.Lock()
				if prev, dup := seen[n]; dup {
					t.Errorf("count %d answered twice (clients %d and %d)", n, prev, c)
				}
				seen[n] = c
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	const total = clients * perClient
	for n := int64(1); n <= total; n++ {
		if _, ok := seen[n]; !ok {
			t.Fatalf("no response carried count %d (%d distinct counts)", n, len(seen))
		}
	}
	got, err := rdb.Get(context.Background(), counter).Int64()
	if err != nil || got != total {
		t.Fatalf("counter %s in Redis = %d, %v; want %d", counter, got, err, total)
	}
	for _, r := range g.logs.find(map[string]string{"plugin": "redis"}) {
		if r.Level >= slog.LevelWarn {
			t.Fatalf("plugin warned: %v", r)
		}
	}
	t.Logf("%d requests, counts 1..%d each once; %d \"redis key value: foobar\" lines (one per instance configured)",
		total, total, len(g.logs.find(map[string]string{"plugin": "redis", "msg": "redis key value: foobar"})))
}

// countedGet does one request and returns its x-request-count.
func countedGet(client *http.Client, url string) (int64, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("status %s", resp.Status)
	}
	h := resp.Header.Values("X-Request-Count")
	if len(h) != 1 {
		return 0, fmt.Errorf("x-request-count = %q, want one value", h)
	}
	return strconv.ParseInt(h[0], 10, 64)
}

// TestRedisRefusedThroughGateway: the redis plugin without a network
// section: its SET in OnPluginStart is refused (EACCES, logged by the host
// with the destination), the plugin logs the failure and keeps its
// configuration, so the route serves; each request's INCR is refused too
// and the response has no count header.
func TestRedisRefusedThroughGateway(t *testing.T) {
	up := gwtest.HTTPBin(t)
	dest := "127.0.0.1:6379" // never reached: the policy refuses first
	g := startGateway(t, 0,
		mainYAML(t, 0, plugin{name: "redis", poolSize: 1}),
		routesYAML(route{id: "count", uri: "/anything/*", upstream: up.Listener.Addr().String(), plugin: "redis",
			conf: fmt.Sprintf(`{"addr": %q, "key": "heimdall-e2e-network:refused"}`, dest)}))
	refusal(t, g.logs, "redis", map[string]string{"op": "sock_connect", "destination": dest, "reason": "no network policy"})
	var setErr []record
	for _, r := range g.logs.find(map[string]string{"plugin": "redis"}) {
		if strings.HasPrefix(r.Msg, "redis: SET heimdall-e2e-network:refused: ") && strings.Contains(r.Msg, "Permission denied") {
			setErr = append(setErr, r)
		}
	}
	if len(setErr) == 0 {
		t.Fatal("the plugin did not log its refused SET")
	}
	resp, body := get(t, nil, g.base+"/anything/x")
	if resp.StatusCode != 200 || resp.Header.Get("X-Request-Count") != "" {
		t.Fatalf("GET through the refused plugin = %s, x-request-count %q, %s", resp.Status, resp.Header.Get("X-Request-Count"), body)
	}
	var incr record
	waitFor(t, "the refused INCR's warning", func() bool {
		for _, r := range g.logs.find(map[string]string{"plugin": "redis"}) {
			if r.Level == slog.LevelWarn && strings.HasPrefix(r.Msg, "redis: INCR heimdall:requests: ") {
				incr = r
				return true
			}
		}
		return false
	})
	t.Logf("per request: %v", incr)
}
