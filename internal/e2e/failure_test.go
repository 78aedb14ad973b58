package e2e

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// misbehave is the failure test plugin (internal/wasm/host/testdata/misbehave):
// it fails in the callback and the way the request header x-fail says.
func misbehave(name string, extra ...string) Plugin {
	return Plugin{Name: name, Dir: "internal/wasm/host/testdata/misbehave", Priority: 100, PoolSize: 2, Extra: extra}
}

// failRoutes: the plugin "closed" (fail_closed) and "open" (fail_open) on
// their own routes, a route through "closed" that never asks it to fail,
// and a route with no plugin.
const failRoutes = `routes:
  - id: closed
    uri: /anything/closed/*
    upstream_id: 1
    plugins:
      closed:
        conf: "none=ok"
  - id: open
    uri: /anything/open/*
    upstream_id: 1
    plugins:
      open:
        conf: "none=ok"
  - id: plain
    uri: /anything/plain/*
    upstream_id: 1
  - id: healthy
    uri: /anything/healthy/*
    upstream_id: 1
    plugins:
      healthy:
        conf: "none=ok"
`

// load sends requests to the routes that must keep answering 200 while the
// test runs, until stop is called; stop fails the test if any did not.
func load(t *testing.T, g *Gateway, paths ...string) (stop func()) {
	t.Helper()
	var (
		wg     sync.WaitGroup
		done   = make(chan struct{})
		n, bad atomic.Int64
		first  atomic.Value
	)
	client := Client()
	for i, p := range paths {
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; ; k++ {
					select {
					case <-done:
						return
					default:
					}
					time.Sleep(2 * time.Millisecond) // load, not a flood: two cores are shared
					resp, err := client.Post(g.URL+p+fmt.Sprintf("/%d-%d-%d", i, w, k), "text/plain", strings.NewReader("payload"))
					n.Add(1)
					if err != nil {
						bad.Add(1)
						first.CompareAndSwap(nil, err.Error())
						continue
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || !bytes.Contains(b, []byte("payload")) {
						bad.Add(1)
						first.CompareAndSwap(nil, fmt.Sprintf("%s: status %d: %s", p, resp.StatusCode, b))
					}
				}
			}()
		}
	}
	return func() {
		t.Helper()
		close(done)
		wg.Wait()
		client.CloseIdleConnections()
		if bad.Load() > 0 || n.Load() == 0 {
			t.Errorf("background load: %d of %d requests failed; first: %v", bad.Load(), n.Load(), first.Load())
		} else {
			t.Logf("background load: %d requests, all 200", n.Load())
		}
	}
}

// send does one request and returns its status and body (status 0 and the
// error text when the exchange broke, as for a response aborted midway).
func send(t *testing.T, method, url, body string, hdr ...string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := newReq(t, method, url, r, hdr...)
	if body != "" {
		req.Header.Set("content-type", "text/plain")
	}
	c := Client()
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err.Error()
	}
	return resp.StatusCode, string(b)
}

// waitOK retries a request until it answers 200 (a slot in backoff answers
// per the policy for a while) and returns how many tries it took.
func waitOK(t *testing.T, url string) int {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for i := 1; ; i++ {
		st, body := send(t, "POST", url, "after")
		if st == 200 && strings.Contains(body, "after") {
			return i
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered 200 again; last: %d %s", url, st, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPluginTrapsPerCallback: a trap in each HTTP callback, under load on
// other routes. fail_closed answers 503 with the gateway's JSON error body
// (or aborts a response already started), fail_open answers 200 without
// the plugin; the instance is replaced and the next request succeeds;
// other routes answer 200 throughout.
func TestPluginTrapsPerCallback(t *testing.T) {
	g := Start(t, Options{
		Plugins: []Plugin{
			misbehave("closed", "failure_policy: fail_closed"),
			misbehave("open", "failure_policy: fail_open"),
			misbehave("healthy"),
		},
		Routes: failRoutes,
	})
	stop := load(t, g, "/anything/plain", "/anything/healthy")
	for _, cb := range []string{"request_headers", "request_body", "response_headers", "response_body", "log", "done", "http_call"} {
		t.Run(cb, func(t *testing.T) {
			for _, policy := range []string{"closed", "open"} {
				// Replacements are rate limited (10/s, a burst of 4): pace
				// the failures so the next request finds a new instance.
				time.Sleep(150 * time.Millisecond)
				before := g.PluginStats(t, policy)
				st, body := send(t, "POST", g.URL+"/anything/"+policy+"/x", "the body", "x-fail", cb+"=trap")
				switch {
				case policy == "open" || cb == "log" || cb == "done":
					// Open: the plugin is skipped. log/done run after the
					// response went out: only the instance pays.
					if st != 200 || !strings.Contains(body, "the body") {
						t.Errorf("%s: status %d body %q, want 200 with the echo", policy, st, body)
					}
				case cb == "response_body":
					// The head may be out already: then the response is
					// aborted (status 0 here) instead of answered 503.
					if st != 503 && st != 0 {
						t.Errorf("%s: status %d body %q, want 503 or an aborted response", policy, st, body)
					}
				default:
					if st != 503 || body != `{"error_msg":"503 Service Unavailable"}`+"\n" {
						t.Errorf("%s: status %d body %q, want 503 with the JSON error", policy, st, body)
					}
				}
				// log and done run after the client has its answer: its next
				// request may already be on the instance when it dies, and
				// then follows the policy as any stream there.
				if tries := waitOK(t, g.URL+"/anything/"+policy+"/next"); tries != 1 && (tries > 2 || (cb != "log" && cb != "done")) {
					t.Errorf("%s: the next request needed %d tries", policy, tries)
				}
				after := g.PluginStats(t, policy)
				if after.Traps != before.Traps+1 {
					t.Errorf("%s: traps %d -> %d, want one more", policy, before.Traps, after.Traps)
				}
				if after.FailedStreams <= before.FailedStreams && cb != "log" && cb != "done" {
					t.Errorf("%s: failed streams %d -> %d, want more", policy, before.FailedStreams, after.FailedStreams)
				}
			}
		})
	}
	stop()
	if t.Failed() {
		t.Log(g.LogText())
	}
	for _, e := range g.Logs() {
		if strings.Contains(e.Msg, "trapped") && e.Str("plugin") == "" {
			t.Errorf("trap log without the plugin: %s", e.Raw)
		}
	}
}

// hammer sends n requests from 4 workers and counts the statuses.
func hammer(t *testing.T, url string, n int, hdr ...string) map[int]int {
	t.Helper()
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	client := Client()
	defer client.CloseIdleConnections()
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/4; i++ {
				req := newReq(t, "GET", url, nil, hdr...)
				st := 0
				if resp, err := client.Do(req); err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					st = resp.StatusCode
					if st == 503 && string(b) != `{"error_msg":"503 Service Unavailable"}`+"\n" {
						st = -503 // a 503 that is not the gateway's
					}
				}
				mu.Lock()
				counts[st]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return counts
}

// TestPluginFailingEveryRequest: a plugin that traps on every request
// (from its configuration) under concurrent load. fail_closed answers 503
// every time, fail_open 200; backoff and the replacement rate limit keep
// instantiations far below the number of failures (no re-instantiation
// storm), and the other routes answer 200 throughout.
func TestPluginFailingEveryRequest(t *testing.T) {
	g := Start(t, Options{
		Plugins: []Plugin{
			misbehave("closed", "failure_policy: fail_closed"),
			misbehave("open", "failure_policy: fail_open"),
			misbehave("healthy"),
		},
		// closed and open trap on every request; healthy keeps its good conf.
		Routes: strings.Replace(strings.ReplaceAll(failRoutes, `conf: "none=ok"`, `conf: "request_headers=trap"`),
			`healthy:
        conf: "request_headers=trap"`, `healthy:
        conf: "none=ok"`, 1),
	})
	waitOK(t, g.URL+"/anything/healthy/start")
	stop := load(t, g, "/anything/plain", "/anything/healthy")
	const n = 400
	for _, tc := range []struct {
		plugin string
		want   int
	}{{"closed", 503}, {"open", 200}} {
		before := g.PluginStats(t, tc.plugin)
		counts := hammer(t, g.URL+"/anything/"+tc.plugin+"/storm", n)
		after := g.PluginStats(t, tc.plugin)
		t.Logf("%s: statuses %v; stats %+v", tc.plugin, counts, after)
		if counts[tc.want] != n {
			t.Errorf("%s: statuses %v, want %d x %d", tc.plugin, counts, n, tc.want)
		}
		made := after.Instantiations - before.Instantiations
		if made > 40 {
			t.Errorf("%s: %d instances made for %d failing requests: no backoff", tc.plugin, made, n)
		}
		if after.BackoffRejects == before.BackoffRejects {
			t.Errorf("%s: no request was refused by the backoff", tc.plugin)
		}
	}
	stop()
}

// TestPluginRunawayAndMemory: an infinite loop is killed at call_timeout,
// a memory bomb stops at memory_limit, both answer 503 and the next
// request works; the process does not keep the bomb's memory; an
// instance that grew past memory_recycle is replaced after its request.
func TestPluginRunawayAndMemory(t *testing.T) {
	g := Start(t, Options{
		Plugins: []Plugin{
			misbehave("closed", "call_timeout: 300ms", "memory_recycle: 16m"),
			misbehave("open", "failure_policy: fail_open"),
			misbehave("healthy"),
		},
		Routes: failRoutes,
	})
	stop := load(t, g, "/anything/plain", "/anything/healthy")
	url := g.URL + "/anything/closed/x"

	before := g.PluginStats(t, "closed")
	if st, body := send(t, "GET", url, "", "x-fail", "request_headers=loop"); st != 503 {
		t.Errorf("loop: %d %s", st, body)
	}
	if after := g.PluginStats(t, "closed"); after.Timeouts != before.Timeouts+1 {
		t.Errorf("loop: timeouts %d -> %d", before.Timeouts, after.Timeouts)
	}
	waitOK(t, url)

	rss0 := rss(t)
	for i := 0; i < 4; i++ {
		time.Sleep(150 * time.Millisecond) // replacements are rate limited
		t0 := time.Now()
		if st, body := send(t, "GET", url, "", "x-fail", "request_headers=oom"); st != 503 {
			t.Errorf("oom %d: %d %s", i, st, body)
		}
		t.Logf("oom %d answered in %v; RSS %d MiB", i, time.Since(t0).Round(time.Millisecond), rss(t)>>20)
		waitOK(t, url)
	}
	if grew := rss(t) - rss0; grew > 96<<20 {
		t.Errorf("RSS grew by %d MiB over four memory bombs (64 MiB limit each): memory stayed taken", grew>>20)
	}

	before = g.PluginStats(t, "closed")
	if st, body := send(t, "GET", url, "", "x-fail", "request_headers=grow"); st != 200 {
		t.Errorf("grow: %d %s", st, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for g.PluginStats(t, "closed").Recycles == before.Recycles && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	after := g.PluginStats(t, "closed")
	if after.Recycles != before.Recycles+1 || after.Traps != before.Traps {
		t.Errorf("grow: recycles %d -> %d, traps %d -> %d; want one recycle, no trap", before.Recycles, after.Recycles, before.Traps, after.Traps)
	}
	if after.MemoryBytes >= 16<<20 {
		t.Errorf("after the recycle the pool holds %d MiB", after.MemoryBytes>>20)
	}
	waitOK(t, url)
	stop()
}

// rss is the process's resident memory in bytes.
func rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("no /proc/self/statm")
	}
	f := strings.Fields(string(b))
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n * int64(os.Getpagesize())
}

// TestPluginBadPointersAndHugeLogs: out-of-bounds pointers to host
// functions get InvalidMemoryAccess (6) and the plugin goes on; a 1 MiB log
// line is cut at max_log_line with a marker; neither fails the request.
func TestPluginBadPointersAndHugeLogs(t *testing.T) {
	g := Start(t, Options{
		Plugins: []Plugin{
			misbehave("closed", "max_log_line: 4k"),
			misbehave("open", "failure_policy: fail_open"),
			misbehave("healthy"),
		},
		Routes: failRoutes,
	})
	stop := load(t, g, "/anything/plain", "/anything/healthy")
	st, body := send(t, "GET", g.URL+"/anything/closed/oob", "", "x-fail", "request_headers=oob")
	if st != 200 || decodeEcho(t, []byte(body)).Headers.Get("X-Oob-Status") != "6,6,6" {
		t.Errorf("oob: %d %s", st, body)
	}
	st, body = send(t, "GET", g.URL+"/anything/closed/biglog", "", "x-fail", "request_headers=biglog")
	if st != 200 {
		t.Errorf("biglog: %d %s", st, body)
	}
	e := g.WaitLog(t, "the cut log line", func(e Entry) bool { return strings.HasPrefix(e.Msg, "biglog:") })
	if len(e.Msg) > 4<<10+64 || !strings.Contains(e.Msg, "[truncated by heimdall: ") {
		t.Errorf("log line of %d bytes, ends %q", len(e.Msg), e.Msg[max(0, len(e.Msg)-80):])
	}
	g.WaitLog(t, "the limit warning", func(e Entry) bool {
		return strings.Contains(e.Msg, "exceeded a limit") && e.Str("limit") == "max_log_line" && e.Str("route") == "closed"
	})
	if st := g.PluginStats(t, "closed"); st.Traps != 0 || st.LimitsExceeded != 1 {
		t.Errorf("stats %+v, want no trap and one limit exceeded", st)
	}
	stop()
}

// TestPluginStartupFailures: a plugin panicking in on_configure or in
// proxy_on_vm_start rejects the reload that brings it in, with an error
// naming plugin and route, and the old routes keep serving; a plugin whose
// tick traps keeps being replaced without taking anything else down.
func TestPluginStartupFailures(t *testing.T) {
	g := Start(t, Options{
		Plugins: []Plugin{
			misbehave("closed"),
			misbehave("open", "failure_policy: fail_open"),
			misbehave("healthy"),
			misbehave("bad-vm_start"),
		},
		Routes: failRoutes,
	})
	stop := load(t, g, "/anything/plain", "/anything/healthy")
	for _, tc := range []struct{ name, route string }{
		{"configure", `  - id: newroute
    uri: /anything/new/*
    upstream_id: 1
    plugins:
      closed:
        conf: "configure=trap"
`},
		{"vm_start", `  - id: newroute
    uri: /anything/new/*
    upstream_id: 1
    plugins:
      bad-vm_start:
        conf: "none=ok"
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			time.Sleep(150 * time.Millisecond)
			g.WriteRoutes(t, failRoutes+tc.route)
			e := g.WaitLog(t, "the rejected reload", func(e Entry) bool {
				return strings.Contains(e.Msg, "new routes rejected") && strings.Contains(e.Raw, "newroute") &&
					!strings.Contains(e.Raw, "done_"+tc.name)
			})
			if !strings.Contains(e.Raw, "route newroute") {
				t.Errorf("the rejection does not name the route: %s", e.Raw)
			}
			if st, _ := send(t, "GET", g.URL+"/anything/new/x", ""); st != 404 {
				t.Errorf("the rejected route answers %d", st)
			}
			// Mark the entry seen for the next case.
			g.WriteRoutes(t, failRoutes+"# done_"+tc.name+"\n")
			waitOK(t, g.URL+"/anything/closed/x")
		})
	}
	t.Run("tick", func(t *testing.T) {
		g.WriteRoutes(t, failRoutes+`  - id: tick
    uri: /anything/tick/*
    upstream_id: 1
    plugins:
      open:
        conf: "tick=trap"
`)
		g.WaitLog(t, "a trap in proxy_on_tick", func(e Entry) bool {
			return e.Str("callback") == "proxy_on_tick" && e.Str("plugin") == "open"
		})
		counts := hammer(t, g.URL+"/anything/tick/x", 100)
		if counts[200] != 100 {
			t.Errorf("fail_open route with a dying instance: statuses %v, want 100 x 200", counts)
		}
		if st := g.PluginStats(t, "open"); st.Traps == 0 || st.Instantiations > 60 {
			t.Errorf("stats %+v: want traps, and instances made only on demand", st)
		}
	})
	stop()
}

// TestFailuresLeakNothing: goroutines and open file descriptors are back to
// their level after a few hundred failing requests of every kind (traps in
// request and response callbacks and in an http_call answer, runaway
// loops, memory bombs), both policies.
func TestFailuresLeakNothing(t *testing.T) {
	// Replacement as fast as failures come: every failure is a real one
	// (a trap and a new instance), not a refusal during a backoff.
	fast := []string{"call_timeout: 100ms", "restart_backoff: 1ms", "restart_backoff_max: 1ms", "restart_rate: 100000"}
	g := Start(t, Options{
		Plugins: []Plugin{
			misbehave("closed", fast...),
			misbehave("open", append(fast, "failure_policy: fail_open")...),
			misbehave("healthy"),
		},
		Routes: failRoutes,
	})
	kinds := [][]string{
		{"x-fail", "request_headers=trap"},
		{"x-fail", "response_headers=trap"},
		{"x-fail", "response_body=trap"},
		{"x-fail", "http_call=trap"},
		{"x-fail", "http_call=ok"},
		{"x-fail", "done=trap"},
	}
	round := func(n int) {
		for _, policy := range []string{"closed", "open"} {
			for _, k := range kinds {
				hammer(t, g.URL+"/anything/"+policy+"/leak", n, k...)
			}
			for i := 0; i < n/40; i++ {
				send(t, "GET", g.URL+"/anything/"+policy+"/leak", "", "x-fail", "request_headers=loop")
				send(t, "GET", g.URL+"/anything/"+policy+"/leak", "", "x-fail", "request_headers=oom")
			}
			hammer(t, g.URL+"/anything/plain/leak", n)
		}
	}
	count := func() (goroutines, fds int) {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return runtime.NumGoroutine(), len(ents)
	}
	settle := func(wantG, wantFD int) (int, int) {
		deadline := time.Now().Add(30 * time.Second)
		for {
			runtime.GC()
			gs, fds := count()
			if (gs <= wantG && fds <= wantFD) || time.Now().After(deadline) {
				return gs, fds
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	round(40) // warm up: pools, workers, keep-alive connections upstream
	// The baseline: counts steady for a second (idle connections closed).
	g0, fd0 := count()
	for steady, deadline := 0, time.Now().Add(15*time.Second); steady < 10 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		runtime.GC()
		gs, fds := count()
		if gs == g0 && fds == fd0 {
			steady++
		} else {
			g0, fd0, steady = gs, fds, 0
		}
	}
	round(80)
	g1, fd1 := settle(g0+4, fd0+2)
	t.Logf("goroutines %d -> %d, fds %d -> %d; stats closed %+v", g0, g1, fd0, fd1, g.PluginStats(t, "closed"))
	if g1 > g0+4 || fd1 > fd0+2 {
		t.Errorf("after the failures: goroutines %d -> %d, fds %d -> %d: something leaks", g0, g1, fd0, fd1)
		var b strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
		t.Log(b.String())
	}
	if st := g.PluginStats(t, "closed"); st.Traps < 100 {
		t.Errorf("the failures did not happen: %+v", st)
	}
}
