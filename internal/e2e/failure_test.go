package e2e

import (
	"bytes"
	"fmt"
	"io"
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
	resp, err := Client().Do(req)
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
