package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/testutil/gwtest"
	"github.com/heimdallgw/heimdall/internal/testutil/logbuf"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

// gw is a running gateway under test.
type gw struct {
	base   string
	dir    string
	log    *logbuf.Buffer
	access *logbuf.Buffer
	stop   func() error
}

// startGateway writes config.yaml (with extra appended) and apisix.yaml into
// a temp dir and runs the gateway on a loopback port.
func startGateway(t *testing.T, extraMain, routes string) *gw {
	t.Helper()
	m, dir := gwtest.Load(t, "apisix:\n  node_listen: 9080\nnginx_config:\n  error_log_level: info\n"+extraMain, routes)
	// Port 0 is not valid in config.yaml; tests bind an ephemeral port.
	gwtest.Loopback(m, 0)
	g := &gw{dir: dir, log: &logbuf.Buffer{}, access: &logbuf.Buffer{}}
	logs := &Logs{
		Error:  slog.New(slog.NewTextHandler(g.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Access: slog.New(slog.NewTextHandler(g.access, nil)),
	}
	r := gwtest.Start(t, g.log, func(ctx context.Context, ready func(plain, tls []net.Addr)) error {
		return Run(ctx, m, logs, RunOptions{ReloadInterval: 20 * time.Millisecond, Ready: ready})
	})
	g.base, g.stop = r.URL, r.Stop
	return g
}

func upstream(t *testing.T) string {
	t.Helper()
	return strings.TrimPrefix(gwtest.HTTPBin(t).URL, "http://")
}

func routesYAML(uri, node, extra string) string {
	return fmt.Sprintf(`routes:
  - id: r1
    uri: %s
    upstream:
      nodes:
        "%s": 1
%s
#END
`, uri, node, extra)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDemoConfigServesHTTPBin(t *testing.T) {
	// The shipped conf/ with its upstream pointed at a test httpbin and the
	// heimdall plugin built from source: what `make run` serves.
	up := upstream(t)
	wasm := wasmbuild.MustBuild(t, "plugins/heimdall")
	mainYAML, err := os.ReadFile("../../conf/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	routes, err := os.ReadFile("../../conf/apisix.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := gwtest.Load(t, strings.Replace(string(mainYAML), "../build/plugins/heimdall.wasm", wasm, 1),
		strings.Replace(string(routes), "127.0.0.1:8080", up, 1))
	gwtest.Loopback(m, 0)
	var log logbuf.Buffer
	logs := &Logs{Error: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: m.NginxConfig.LogLevel}))}
	g, err := gwtest.Launch(t, func(ctx context.Context, ready func(plain, tls []net.Addr)) error {
		return Run(ctx, m, logs, RunOptions{Ready: ready})
	})
	if err != nil {
		t.Fatalf("demo config did not start: %v", err)
	}
	code, body := get(t, g.URL+"/httpbin/get")
	if code != 200 || !strings.Contains(body, `/get"`) {
		t.Fatalf("GET /httpbin/get = %d %s", code, body)
	}
	waitFor(t, "heimdall plugin log lines", func() bool {
		s := log.String()
		return strings.Contains(s, "#request_header") && strings.Contains(s, "#response_body")
	})
}

func TestHotReloadUnderLoadLosesNoRequest(t *testing.T) {
	up := upstream(t)
	g := startGateway(t, "", routesYAML("/anything/v1/*", up, ""))
	if code, _ := get(t, g.base+"/anything/v1/get"); code != 200 {
		t.Fatalf("before reload: %d", code)
	}

	var failures, served atomic.Int64
	var lastErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(g.base + "/anything/v1/get")
				if err != nil {
					failures.Add(1)
					lastErr.Store(err.Error())
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failures.Add(1)
					lastErr.Store(resp.Status)
					continue
				}
				served.Add(1)
			}
		}()
	}
	// Ten reloads, alternating a second route in and out, while both
	// routes' common path keeps being served.
	for i := 0; i < 10; i++ {
		extra := ""
		if i%2 == 0 {
			extra = fmt.Sprintf("  - id: r%d\n    uri: /anything/v2/*\n    upstream:\n      nodes:\n        \"%s\": 1\n", i+2, up)
		}
		gwtest.WriteFile(t, filepath.Join(g.dir, "apisix.yaml"), routesYAML("/anything/v1/*", up, extra))
		version := fmt.Sprintf("version=%d", i+2)
		waitFor(t, "reload "+version, func() bool { return strings.Contains(g.log.String(), version) })
		n := served.Load()
		waitFor(t, "requests after reload", func() bool { return served.Load() > n+5 })
	}
	close(stop)
	wg.Wait()
	if f := failures.Load(); f != 0 {
		t.Fatalf("%d of %d requests failed during reloads; last: %v", f, f+served.Load(), lastErr.Load())
	}
	if code, _ := get(t, g.base+"/anything/v2/get"); code != 404 {
		t.Fatalf("/v2 after the last reload (route removed) = %d, want 404", code)
	}
}

func TestInvalidReloadKeepsServing(t *testing.T) {
	up := upstream(t)
	g := startGateway(t, "", routesYAML("/anything/v1/*", up, ""))
	tests := []struct {
		name, content, logged string
	}{
		{"schema error", "routes:\n  - id: r1\n    uri: /anything/v1/*\n    upstream:\n      type: rr\n      nodes:\n        \"" + up + "\": 1\n#END\n",
			`unknown balancer \"rr\"`},
		{"yaml syntax", "routes: [\n#END\n", "apisix.yaml:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gwtest.WriteFile(t, filepath.Join(g.dir, "apisix.yaml"), tt.content)
			waitFor(t, "the error to be logged", func() bool { return strings.Contains(g.log.String(), tt.logged) })
			if code, _ := get(t, g.base+"/anything/v1/get"); code != 200 {
				t.Fatalf("old routes stopped serving: %d", code)
			}
		})
	}
	// Not yet complete (no #END): not applied, not an error.
	gwtest.WriteFile(t, filepath.Join(g.dir, "apisix.yaml"), routesYAML("/anything/v3/*", up, "")[:20])
	time.Sleep(100 * time.Millisecond) // several poll intervals; nothing may change
	if code, _ := get(t, g.base+"/anything/v1/get"); code != 200 {
		t.Fatalf("a partial file replaced the routes: %d", code)
	}
	// A valid file is applied again.
	gwtest.WriteFile(t, filepath.Join(g.dir, "apisix.yaml"), routesYAML("/anything/v3/*", up, ""))
	waitFor(t, "the valid file to apply", func() bool {
		code, _ := get(t, g.base+"/anything/v3/get")
		return code == 200
	})
	if code, _ := get(t, g.base+"/anything/v1/get"); code != 404 {
		t.Fatalf("/v1 after switching to /v3 = %d, want 404", code)
	}
}

func TestStartupErrors(t *testing.T) {
	up := upstream(t)
	tests := []struct {
		name, main, routes, want string
	}{
		{"missing plugin file", "wasm:\n  plugins:\n    - name: p\n      priority: 1\n      file: nothere.wasm\n",
			routesYAML("/*", up, ""), "config.yaml:3:7: wasm.plugins[0] p: cannot read"},
		{"bad routes", "", "routes: []\n", `"#END"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := gwtest.Load(t, tt.main, tt.routes)
			gwtest.Loopback(m, 0)
			logs := &Logs{Error: slog.New(slog.DiscardHandler)}
			err := Run(context.Background(), m, logs, RunOptions{Ready: func(_, _ []net.Addr) { t.Error("gateway became ready") }})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestShutdownDrainsInFlight(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "done")
	}))
	t.Cleanup(slow.Close)
	g := startGateway(t, "heimdall:\n  graceful_shutdown_timeout: 10s\n",
		routesYAML("/*", strings.TrimPrefix(slow.URL, "http://"), ""))
	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get(g.base + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{code: resp.StatusCode, body: string(b)}
	}()
	<-arrived
	stopped := make(chan error, 1)
	go func() { stopped <- g.stop() }()
	// The listener closes first; the in-flight request is still waiting.
	waitFor(t, "the listener to close", func() bool {
		c, err := net.Dial("tcp", strings.TrimPrefix(g.base, "http://"))
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-stopped:
		t.Fatalf("Run returned before the in-flight request finished: %v", err)
	default:
	}
	close(release)
	r := <-res
	if r.err != nil || r.code != 200 || r.body != "done" {
		t.Fatalf("in-flight request during shutdown: %d %q %v", r.code, r.body, r.err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
