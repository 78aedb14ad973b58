package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/store"
	"github.com/heimdallgw/heimdall/internal/testutil/gwtest"
	"github.com/heimdallgw/heimdall/internal/testutil/logbuf"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

// statusOf GETs url and returns the code and the decoded JSON answer.
func statusOf(t *testing.T, url string) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v map[string]string
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("GET %s: %d %q: %v", url, resp.StatusCode, b, err)
	}
	return resp.StatusCode, v
}

// TestStatusReady: the status API (apisix.status) answers before the first
// routes are applied; /status/ready is 503 until every route's plugins are
// configured (here a plugin whose on_configure waits on a socket), then 200.
func TestStatusReady(t *testing.T) {
	wasm := wasmbuild.MustBuild(t, "plugins/httpget")
	up := upstream(t)
	hold := newHoldServer(t)
	dir := t.TempDir()
	gwtest.WriteFile(t, filepath.Join(dir, "config.yaml"), fmt.Sprintf(`apisix:
  status: {}
plugin_attr:
  prometheus:
    enable_export_server: false
wasm:
  plugins:
    - name: httpget
      priority: 1
      file: %s
      pool_size: 1
      network:
        allow: ["127.0.0.1/32:%d"]
        deadline: 30s
`, wasm, hold.port()))
	gwtest.WriteFile(t, filepath.Join(dir, "apisix.yaml"), fmt.Sprintf(`routes:
  - id: slow
    uri: /anything/slow
    upstream: {nodes: {"%s": 1}}
    plugins:
      httpget:
        conf: {"url": "http://127.0.0.1:%d/", "timeout": "30s"}
#END
`, up, hold.port()))
	m, err := config.LoadMain(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !m.APISIX.Status.Enable || m.APISIX.Status.Listen.Port != config.DefaultStatusPort {
		t.Fatalf("apisix.status: %+v", m.APISIX.Status)
	}
	gwtest.Loopback(m, 0)
	var log logbuf.Buffer
	logs := &Logs{Error: slog.New(slog.NewTextHandler(&log, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	status := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, m, logs, RunOptions{
			ConfigureWait: time.Hour, // the first apply waits for the plugin
			Listening: func(kind string, a net.Addr) {
				if kind == "status" {
					status <- "http://" + a.String()
				} else {
					t.Errorf("a %s listener with enable_export_server: false", kind)
				}
			},
		})
	}()
	defer func() {
		cancel()
		hold.release()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var base string
	select {
	case base = <-status:
	case err := <-done:
		t.Fatalf("gateway did not start: %v\n%s", err, log.String())
	}
	<-hold.accepted // on_configure is running: nothing applied yet
	if code, v := statusOf(t, base+"/status"); code != 200 || v["status"] != "ok" {
		t.Errorf("/status while configuring: %d %v", code, v)
	}
	code, v := statusOf(t, base+"/status/ready")
	if code != 503 || v["status"] != "error" || v["error"] != "routes have not been applied yet" {
		t.Errorf("/status/ready before the first apply: %d %v", code, v)
	}
	hold.release()
	waitFor(t, "ready", func() bool { code, _ := statusOf(t, base+"/status/ready"); return code == 200 })
	if _, v := statusOf(t, base+"/status/ready"); v["status"] != "ok" || len(v) != 1 {
		t.Errorf("/status/ready once applied: %v", v)
	}
}

// TestReadyWaitsForPluginConfiguration: a route installed while its plugin
// still configures (it answers 503) keeps the gateway not ready.
func TestReadyWaitsForPluginConfiguration(t *testing.T) {
	wasm := wasmbuild.MustBuild(t, "plugins/httpget")
	up := upstream(t)
	hold := newHoldServer(t)
	m, _ := gwtest.Load(t, fmt.Sprintf(`wasm:
  plugins:
    - name: httpget
      priority: 1
      file: %s
      pool_size: 1
      network:
        allow: ["127.0.0.1/32:%d"]
        deadline: 30s
`, wasm, hold.port()), fmt.Sprintf(`routes:
  - id: slow
    uri: /anything/slow
    upstream: {nodes: {"%s": 1}}
    plugins:
      httpget:
        conf: {"url": "http://127.0.0.1:%d/", "timeout": "30s"}
#END
`, up, hold.port()))
	gwtest.Loopback(m, 0)
	var log logbuf.Buffer
	logs := &Logs{Error: slog.New(slog.NewTextHandler(&log, nil))}
	ctx := context.Background()
	gw, err := New(ctx, m, logs)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		hold.release()
		if err := gw.Close(ctx); err != nil {
			t.Error(err)
		}
	}()
	if err := gw.Ready(); err == nil {
		t.Fatal("ready before any apply")
	}
	gw.configureWait = 20 * time.Millisecond
	snap := loadSnapshot(t, m)
	if err := gw.Apply(ctx, snap); err != nil {
		t.Fatal(err)
	}
	if err := gw.Ready(); err == nil || err.Error() != "1 route(s) answer 503 until their plugins are configured" {
		t.Fatalf("Ready while the plugin configures: %v", err)
	}
	<-hold.accepted // released only once the plugin holds the connection
	hold.release()
	waitFor(t, "the plugin to be configured", func() bool { return gw.Ready() == nil })
}

func loadSnapshot(t *testing.T, m *config.Main) *store.Snapshot {
	t.Helper()
	s, err := store.NewFile(m, store.FileOptions{}).Load()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
