package proxy_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/proxy"
	"github.com/heimdallgw/heimdall/internal/server"
)

// countingUpstream is an upstream that counts the connections it accepted
// and closed, and the requests each connection carried.
type countingUpstream struct {
	*httptest.Server
	opened, closed atomic.Int64
	mu             sync.Mutex
	perConn        map[string]int
}

func newCountingUpstream(t *testing.T, tlsOn bool, h http.HandlerFunc) *countingUpstream {
	t.Helper()
	u := &countingUpstream{perConn: map[string]int{}}
	u.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.perConn[r.RemoteAddr]++
		u.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		w.Write([]byte("ok")) //nolint:errcheck
	}))
	u.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			u.opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			u.closed.Add(1)
		}
	}
	if tlsOn {
		u.StartTLS()
	} else {
		u.Start()
	}
	t.Cleanup(u.Close)
	return u
}

func (u *countingUpstream) addr() string {
	return u.Listener.Addr().String()
}

// waitFor waits (bounded) for cond: connection closes are asynchronous.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func keepalive(size int, idle time.Duration, requests int) func(*config.Upstream) {
	return func(u *config.Upstream) {
		u.KeepalivePool = config.KeepalivePool{Size: size, IdleTimeout: idle, Requests: requests}
	}
}

// TestKeepaliveRequests: keepalive_pool.requests bounds the requests per
// upstream connection: N sequential requests with requests: 10 open
// ⌈N/10⌉ connections, including responses without a body (HEAD, 204) that
// fasthttp pools before the proxy sees them.
func TestKeepaliveRequests(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		name := "http"
		if tlsOn {
			name = "https"
		}
		t.Run(name, func(t *testing.T) {
			up := newCountingUpstream(t, tlsOn, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/nocontent" {
					w.WriteHeader(204)
					return
				}
				w.Write([]byte("ok")) //nolint:errcheck
			})
			mod := func(u *config.Upstream) {
				keepalive(320, time.Minute, 10)(u)
				if tlsOn {
					u.Scheme = "https"
				}
			}
			e := newEnv(t, server.Config{}, map[string]*proxy.Route{
				"/": {ID: "r", Upstream: upstream(t, mod, up.addr())},
			})
			const n = 25
			for i := 0; i < n; i++ {
				method, path := "GET", "/get"
				switch i % 3 {
				case 1:
					method = "HEAD"
				case 2:
					path = "/nocontent"
				}
				resp, _ := do(t, e.h1, method, e.httpURL+path, nil, nil)
				if resp.StatusCode != 200 && resp.StatusCode != 204 {
					t.Fatalf("request %d: status %d", i, resp.StatusCode)
				}
			}
			if got, want := up.opened.Load(), int64((n+9)/10); got != want {
				t.Errorf("upstream connections opened: %d, want %d", got, want)
			}
			up.mu.Lock()
			defer up.mu.Unlock()
			total := 0
			for c, k := range up.perConn {
				total += k
				if k > 10 {
					t.Errorf("connection %s carried %d requests, want <= 10", c, k)
				}
			}
			if total != n {
				t.Errorf("upstream saw %d requests, want %d", total, n)
			}
		})
	}
}

// TestKeepaliveSize: keepalive_pool.size bounds the idle connections kept
// per node: after k concurrent requests, k − size connections are closed and
// the size kept ones serve the next requests.
func TestKeepaliveSize(t *testing.T) {
	const k, size = 6, 2
	var arrived sync.WaitGroup
	arrived.Add(k)
	gate := make(chan struct{})
	var once sync.Once
	var hold atomic.Bool
	hold.Store(true)
	up := newCountingUpstream(t, false, func(w http.ResponseWriter, _ *http.Request) {
		if hold.Load() {
			// Hold every request until k are in flight: k connections.
			arrived.Done()
			<-gate
		}
		w.Write([]byte("ok")) //nolint:errcheck
	})
	go func() {
		arrived.Wait()
		once.Do(func() { close(gate) })
	}()
	e := newEnv(t, server.Config{}, map[string]*proxy.Route{
		"/": {ID: "r", Upstream: upstream(t, keepalive(size, time.Minute, 1000), up.addr())},
	})
	var wg sync.WaitGroup
	for i := 0; i < k; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body := do(t, e.h1, "GET", e.httpURL+"/"+strconv.Itoa(i), nil, nil)
			if resp.StatusCode != 200 || body != "ok" {
				t.Errorf("status %d %q", resp.StatusCode, body)
			}
		}()
	}
	wg.Wait()
	hold.Store(false)
	if got := up.opened.Load(); got != k {
		t.Fatalf("upstream connections opened: %d, want %d", got, k)
	}
	waitFor(t, "idle connections beyond size to close", func() bool { return up.closed.Load() == k-size })
	// The kept connections serve what comes next.
	for i := 0; i < 2*size; i++ {
		do(t, e.h1, "GET", e.httpURL+"/again", nil, nil)
	}
	if got := up.opened.Load(); got != k {
		t.Errorf("upstream connections opened after reuse: %d, want %d (idle ones reused)", got, k)
	}
	if got := up.closed.Load(); got != k-size {
		t.Errorf("upstream connections closed: %d, want %d", got, k-size)
	}
}

// TestKeepaliveIdleTimeout: an idle connection is closed after
// keepalive_pool.idle_timeout.
func TestKeepaliveIdleTimeout(t *testing.T) {
	up := newCountingUpstream(t, false, nil)
	e := newEnv(t, server.Config{}, map[string]*proxy.Route{
		"/": {ID: "r", Upstream: upstream(t, keepalive(320, 200*time.Millisecond, 1000), up.addr())},
	})
	do(t, e.h1, "GET", e.httpURL+"/", nil, nil)
	waitFor(t, "the idle connection to close", func() bool { return up.closed.Load() == 1 })
}
