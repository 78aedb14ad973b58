// Package e2e runs the example plugins through the real gateway: a temporary
// config.yaml and apisix.yaml, gateway.Run on a loopback port, go-httpbin as
// the upstream, and real HTTP requests. This file holds the test harness;
// the tests are in the _test.go files.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/gateway"
	"github.com/heimdallgw/heimdall/internal/testutil/gwtest"
	"github.com/heimdallgw/heimdall/internal/testutil/logbuf"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
	"github.com/heimdallgw/heimdall/internal/wasm/host"
)

// Plugin declares one wasm plugin in config.yaml.
type Plugin struct {
	Name     string // also the directory under plugins/
	Priority int
	Phase    string // "" = access
	PoolSize int    // 0 = heimdall.instance_pool_size
	// CallTimeout is written as call_timeout when not empty ("0": a
	// trusted plugin without termination checks).
	CallTimeout string
	// Dir is the plugin's source directory relative to the module root
	// when it is not plugins/<Name> (a test plugin under testdata).
	Dir string
	// Extra is more YAML for the plugin's entry, one "key: value" per
	// line (failure_policy, memory_limit, ...).
	Extra []string
}

// Options describe a gateway to start.
type Options struct {
	Plugins []Plugin
	// Routes is the apisix.yaml text without the upstreams section and
	// without #END; {{upstream}} is not needed: every route must say
	// `upstream_id: 1`, which is the httpbin upstream.
	Routes string
	// ReloadInterval is how often apisix.yaml is polled (default 50ms).
	ReloadInterval time.Duration
	// Keep, when set, decides which log records are kept (each Write is
	// one record); the others are only counted. For long runs.
	Keep func(record []byte) bool
}

// Gateway is a running gateway with its upstream.
type Gateway struct {
	URL      string // http://127.0.0.1:port
	Addr     string // 127.0.0.1:port
	Upstream *httptest.Server
	Dir      string // holds config.yaml and apisix.yaml

	logs *LogBuffer
	stop func() error
	once sync.Once
	gw   atomic.Pointer[gateway.Gateway]
}

// LogBuffer is a goroutine-safe writer that keeps everything written
// (Dropped counts the records Options.Keep rejected).
type LogBuffer struct{ logbuf.Buffer }

// Entry is one JSON log record.
type Entry struct {
	Level string
	Msg   string
	Attrs map[string]any
	Raw   string
}

// Str returns attribute k formatted as a string ("" if absent).
func (e Entry) Str(k string) string {
	v, ok := e.Attrs[k]
	if !ok {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// Entries parses the buffer as JSON lines (both logs go to the same buffer).
func (b *LogBuffer) Entries() []Entry {
	var out []Entry
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			out = append(out, Entry{Msg: line, Raw: line})
			continue
		}
		e := Entry{Attrs: m, Raw: line}
		e.Level, _ = m["level"].(string)
		e.Msg, _ = m["msg"].(string)
		out = append(out, e)
	}
	return out
}

// BuildPlugin compiles plugins/<name> (cached) and returns the .wasm path.
func BuildPlugin(tb testing.TB, name string) string {
	tb.Helper()
	return wasmbuild.MustBuild(tb, filepath.Join("plugins", name))
}

// NewUpstream starts go-httpbin; it is closed when the test ends.
func NewUpstream(tb testing.TB) *httptest.Server {
	tb.Helper()
	return gwtest.HTTPBin(tb)
}

// Files writes config.yaml and apisix.yaml for o into dir and returns the
// decoded main config, with the listener moved to 127.0.0.1:0 (config.yaml
// only accepts ports 1-65535).
func Files(tb testing.TB, dir string, o Options, upstream string) *config.Main {
	tb.Helper()
	var cfg strings.Builder
	cfg.WriteString(`apisix:
  node_listen:
    - ip: 127.0.0.1
      port: 9080
deployment:
  role: data_plane
  role_data_plane:
    config_provider: yaml
nginx_config:
  error_log_level: info
heimdall:
  log_format: json
  access_log:
    enable: true
  apisix_yaml: apisix.yaml
  graceful_shutdown_timeout: 5s
wasm:
  plugins:
`)
	for _, p := range o.Plugins {
		var wasm string
		if p.Dir != "" {
			wasm = wasmbuild.MustBuild(tb, p.Dir)
		} else {
			wasm = BuildPlugin(tb, p.Name)
		}
		// A relative file: path, resolved against config.yaml's directory.
		rel, err := filepath.Rel(dir, wasm)
		if err != nil {
			rel = wasm
		}
		phase := p.Phase
		if phase == "" {
			phase = "access"
		}
		fmt.Fprintf(&cfg, "    - name: %s\n      priority: %d\n      file: %s\n      http_request_phase: %s\n",
			p.Name, p.Priority, rel, phase)
		if p.PoolSize > 0 {
			fmt.Fprintf(&cfg, "      pool_size: %d\n", p.PoolSize)
		}
		if p.CallTimeout != "" {
			fmt.Fprintf(&cfg, "      call_timeout: %s\n", p.CallTimeout)
		}
		for _, l := range p.Extra {
			fmt.Fprintf(&cfg, "      %s\n", l)
		}
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	gwtest.WriteFile(tb, cfgPath, cfg.String())
	WriteRoutes(tb, dir, o.Routes, upstream)
	m, err := config.LoadMain(cfgPath)
	if err != nil {
		tb.Fatalf("config.yaml:\n%s\n%v", cfg.String(), err)
	}
	mc := *m
	gwtest.Loopback(&mc, 0)
	return &mc
}

// WriteRoutes (re)writes dir/apisix.yaml: routes, then upstream 1 pointing
// at upstream (host:port), then #END. The file is written to a temporary
// name and renamed, so the poller never sees half of it.
func WriteRoutes(tb testing.TB, dir, routes, upstream string) {
	tb.Helper()
	text := strings.TrimRight(routes, "\n") + fmt.Sprintf(`
upstreams:
  - id: 1
    type: roundrobin
    nodes:
      "%s": 1
#END
`, upstream)
	gwtest.WriteFile(tb, filepath.Join(dir, "apisix.yaml"), text)
}

// Launch starts the gateway for o and returns it, or the error gateway.Run
// returned before becoming ready. A started gateway is stopped when the
// test ends (Stop may also be called earlier).
func Launch(tb testing.TB, o Options) (*Gateway, error) {
	tb.Helper()
	up := NewUpstream(tb)
	dir := tb.TempDir()
	upAddr := strings.TrimPrefix(up.URL, "http://")
	m := Files(tb, dir, o, upAddr)

	logs := &LogBuffer{logbuf.Buffer{Keep: o.Keep}}
	gl, err := gateway.NewLogs(m, logs, logs)
	if err != nil {
		tb.Fatal(err)
	}
	interval := o.ReloadInterval
	if interval == 0 {
		interval = 50 * time.Millisecond
	}
	var built atomic.Pointer[gateway.Gateway]
	r, err := gwtest.Launch(tb, func(ctx context.Context, ready func(plain, tls []net.Addr)) error {
		return gateway.Run(ctx, m, gl, gateway.RunOptions{ReloadInterval: interval, Ready: ready,
			Built: func(gw *gateway.Gateway) { built.Store(gw) }})
	})
	if err != nil {
		gl.Close()
		return nil, err
	}
	g := &Gateway{
		URL:      r.URL,
		Addr:     r.Addr.String(),
		Upstream: up,
		Dir:      dir,
		logs:     logs,
	}
	g.gw.Store(built.Load())
	g.stop = func() error {
		err := r.Stop()
		gl.Close()
		return err
	}
	tb.Cleanup(func() { g.Stop(tb) })
	return g, nil
}

// Start is Launch that fails the test if the gateway does not start.
func Start(tb testing.TB, o Options) *Gateway {
	tb.Helper()
	g, err := Launch(tb, o)
	if err != nil {
		tb.Fatalf("gateway.Run: %v", err)
	}
	return g
}

// Stop cancels the gateway's context and waits for gateway.Run to return;
// the test fails if it returned an error. Later calls do nothing.
func (g *Gateway) Stop(tb testing.TB) {
	tb.Helper()
	g.once.Do(func() {
		if err := g.stop(); err != nil {
			tb.Errorf("gateway.Run returned: %v", err)
		}
	})
}

// PluginStats returns the failure counters of the wasm plugin name.
func (g *Gateway) PluginStats(tb testing.TB, name string) host.Stats {
	tb.Helper()
	st, ok := g.gw.Load().PluginStats()[name]
	if !ok {
		tb.Fatalf("no wasm plugin %q", name)
	}
	return st
}

// Logs returns the error and access log records written so far.
func (g *Gateway) Logs() []Entry { return g.logs.Entries() }

// DroppedLogs returns how many records Options.Keep rejected.
func (g *Gateway) DroppedLogs() int { return g.logs.Dropped() }

// LogText returns the raw log text.
func (g *Gateway) LogText() string { return g.logs.String() }

// WaitLog polls the logs until one entry satisfies ok and returns it; the
// test fails after a generous deadline (only to bound a broken run).
func (g *Gateway) WaitLog(tb testing.TB, what string, ok func(Entry) bool) Entry {
	tb.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, e := range g.Logs() {
			if ok(e) {
				return e
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no log entry %s; logs:\n%s", what, g.LogText())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WriteRoutes replaces apisix.yaml (reload picks it up).
func (g *Gateway) WriteRoutes(tb testing.TB, routes string) {
	tb.Helper()
	WriteRoutes(tb, g.Dir, routes, strings.TrimPrefix(g.Upstream.URL, "http://"))
}

// Client is an HTTP client for tests: no keep-alive sharing across tests,
// no redirects followed.
func Client() *http.Client {
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 16},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
