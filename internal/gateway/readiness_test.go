package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/testutil/gwtest"
	"github.com/heimdallgw/heimdall/internal/testutil/logbuf"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

// holdServer accepts TCP connections and answers nothing until released,
// then closes them: a plugin GETting it in on_configure is stuck until then.
type holdServer struct {
	ln       net.Listener
	mu       sync.Mutex
	conns    []net.Conn
	accepted chan struct{}
}

func newHoldServer(t *testing.T) *holdServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &holdServer{ln: ln, accepted: make(chan struct{}, 16)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
			h.accepted <- struct{}{}
		}
	}()
	t.Cleanup(func() { ln.Close(); h.release() })
	return h
}

func (h *holdServer) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		c.Close()
	}
	h.conns = nil
}

func (h *holdServer) port() int { return h.ln.Addr().(*net.TCPAddr).Port }

// TestSlowConfigureDelaysOnlyItsRoute: a plugin whose on_configure does
// network I/O delays only the route it is on. At start-up the other routes
// serve and the new route answers 503 until the plugin is configured (on
// each instance, one at a time); on reload the route keeps its previous
// version meanwhile, served by the instance that is not configuring.
func TestSlowConfigureDelaysOnlyItsRoute(t *testing.T) {
	wasm := wasmbuild.MustBuild(t, "plugins/httpget")
	up := upstream(t)
	hold1, hold2 := newHoldServer(t), newHoldServer(t)

	dir := t.TempDir()
	gwtest.WriteFile(t, filepath.Join(dir, "config.yaml"), fmt.Sprintf(`nginx_config:
  error_log_level: info
wasm:
  plugins:
    - name: httpget
      priority: 1
      file: %s
      pool_size: 2
      network:
        allow: ["127.0.0.1/32:%d", "127.0.0.1/32:%d"]
        deadline: 30s
`, wasm, hold1.port(), hold2.port()))
	routes := func(holdPort int) string {
		return fmt.Sprintf(`routes:
  - id: plain
    uri: /anything/plain
    upstream: {nodes: {"%[1]s": 1}}
  - id: slow
    uri: /anything/slow
    upstream: {nodes: {"%[1]s": 1}}
    plugins:
      httpget:
        conf: {"url": "http://127.0.0.1:%[2]d/", "timeout": "30s"}
#END
`, up, holdPort)
	}
	gwtest.WriteFile(t, filepath.Join(dir, "apisix.yaml"), routes(hold1.port()))
	m, err := config.LoadMain(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	gwtest.Loopback(m, 0)
	var log logbuf.Buffer
	logs := &Logs{Error: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, m, logs, RunOptions{
			ConfigureWait:  50 * time.Millisecond,
			ReloadInterval: 20 * time.Millisecond,
			Ready:          func(p, _ []net.Addr) { ready <- "http://" + p[0].String() },
		})
	}()
	var base string
	select {
	case base = <-ready:
	case err := <-done:
		t.Fatalf("gateway did not start: %v\n%s", err, log.String())
	}
	defer func() {
		cancel()
		hold1.release()
		hold2.release()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	status := func(path string) int {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	<-hold1.accepted // the first instance is inside on_configure, blocked on the GET
	if got := status("/anything/plain"); got != 200 {
		t.Fatalf("the other route while a plugin configures: %d, want 200", got)
	}
	if got := status("/anything/slow"); got != 503 {
		t.Fatalf("the configuring new route: %d, want 503", got)
	}
	hold1.release()
	<-hold1.accepted // the second instance
	hold1.release()
	waitFor(t, "the slow route to become ready", func() bool { return status("/anything/slow") == 200 })

	// Reload with a new conf for the slow route: it keeps serving its
	// previous version while the plugin configures the new one.
	gwtest.WriteFile(t, filepath.Join(dir, "apisix.yaml"), routes(hold2.port()))
	<-hold2.accepted
	waitFor(t, "the reload to be applied around the configuring route", func() bool {
		return strings.Contains(log.String(), "route keeps its previous configuration")
	})
	for _, path := range []string{"/anything/slow", "/anything/plain"} {
		if got := status(path); got != 200 {
			t.Fatalf("%s while the slow route reconfigures: %d, want 200\n%s", path, got, log.String())
		}
	}
	hold2.release()
	<-hold2.accepted
	hold2.release()
	waitFor(t, "the new version to be installed", func() bool {
		return strings.Count(log.String(), "route keeps its previous configuration") == 1 &&
			strings.Count(log.String(), fmt.Sprintf("httpget: GET http://127.0.0.1:%d/", hold2.port())) == 2
	})
	if got := status("/anything/slow"); got != 200 {
		t.Fatalf("the reconfigured route: %d", got)
	}
}
