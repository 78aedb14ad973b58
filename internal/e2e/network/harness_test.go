package network

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/gateway"
	"github.com/heimdallgw/heimdall/internal/testutil/gwtest"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

// cacheDir is a compilation cache shared by the gateways of this test
// binary, so each plugin is compiled by wazero once per run.
var cacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "heimdall-e2e-network-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cacheDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// record is one log record with its attributes flattened to strings.
type record struct {
	Level slog.Level
	Msg   string
	Attrs map[string]string
}

func (r record) String() string {
	keys := make([]string, 0, len(r.Attrs))
	for k := range r.Attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q", r.Level, r.Msg)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%q", k, r.Attrs[k])
	}
	return b.String()
}

// logStore keeps every record the gateway logs (error log and access log).
type logStore struct {
	mu   sync.Mutex
	recs []record
}

func (s *logStore) records() []record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.recs)
}

func (s *logStore) String() string {
	var b strings.Builder
	for _, r := range s.records() {
		b.WriteString(r.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// find returns the records matching every key=value of attrs (the key
// "msg" matches the message) for which the optional pred holds.
func (s *logStore) find(attrs map[string]string) []record {
	var out []record
	for _, r := range s.records() {
		if r.match(attrs) {
			out = append(out, r)
		}
	}
	return out
}

func (r record) match(attrs map[string]string) bool {
	for k, v := range attrs {
		got := r.Attrs[k]
		if k == "msg" {
			got = r.Msg
		}
		if got != v {
			return false
		}
	}
	return true
}

// recHandler is a slog.Handler appending to a logStore; groups are
// flattened into dotted keys.
type recHandler struct {
	s      *logStore
	attrs  []slog.Attr
	prefix string
}

func (h *recHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recHandler) Handle(_ context.Context, r slog.Record) error {
	rec := record{Level: r.Level, Msg: r.Message, Attrs: map[string]string{}}
	for _, a := range h.attrs {
		rec.Attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.Attrs[h.prefix+a.Key] = a.Value.Resolve().String()
		return true
	})
	h.s.mu.Lock()
	h.s.recs = append(h.s.recs, rec)
	h.s.mu.Unlock()
	return nil
}

func (h *recHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = slices.Clone(h.attrs)
	for _, a := range as {
		a.Key = h.prefix + a.Key
		n.attrs = append(n.attrs, a)
	}
	return &n
}

func (h *recHandler) WithGroup(name string) slog.Handler {
	n := *h
	n.prefix = h.prefix + name + "."
	return &n
}

// gw is a running gateway.
type gw struct {
	base string // http://127.0.0.1:port
	port int
	dir  string
	logs *logStore
	stop func() error
}

// plugin is one wasm.plugins entry of config.yaml.
type plugin struct {
	name     string // also the directory under plugins/
	network  string // the YAML of the network section's body (indented 8), "" = no section
	poolSize int    // 0 = the default
	src      string // the plugin's source directory; "" = plugins/<name>
}

func (p plugin) yaml(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	src := p.src
	if src == "" {
		src = "plugins/" + p.name
	}
	fmt.Fprintf(&b, "    - name: %s\n      priority: 7000\n      file: %s\n", p.name, wasmbuild.MustBuild(t, src))
	if p.poolSize > 0 {
		fmt.Fprintf(&b, "      pool_size: %d\n", p.poolSize)
	}
	if p.network != "" {
		b.WriteString("      network:\n")
		for _, l := range strings.Split(strings.TrimRight(p.network, "\n"), "\n") {
			b.WriteString("        " + l + "\n")
		}
	}
	return b.String()
}

// mainYAML is config.yaml for plugins, listening on port (0: the harness
// binds an ephemeral port).
func mainYAML(t *testing.T, port int, plugins ...plugin) string {
	t.Helper()
	listen := port
	if listen == 0 {
		listen = 9080 // replaced after loading: config.yaml wants 1-65535
	}
	var b strings.Builder
	fmt.Fprintf(&b, "apisix:\n  node_listen: %d\nnginx_config:\n  error_log_level: debug\nheimdall:\n  wasm_cache_dir: %s\n", listen, cacheDir)
	if len(plugins) > 0 {
		b.WriteString("wasm:\n  plugins:\n")
		for _, p := range plugins {
			b.WriteString(p.yaml(t))
		}
	}
	return b.String()
}

// route is one apisix.yaml route.
type route struct {
	id, uri  string
	upstream string // host:port
	plugin   string // "" = none
	conf     string // the plugin's JSON conf
}

func routesYAML(rs ...route) string {
	var b strings.Builder
	b.WriteString("routes:\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "  - id: %s\n    uri: %s\n", r.id, r.uri)
		if r.plugin != "" {
			fmt.Fprintf(&b, "    plugins:\n      %s:\n        conf: %s\n", r.plugin, r.conf)
		}
		fmt.Fprintf(&b, "    upstream:\n      nodes:\n        %q: 1\n", r.upstream)
	}
	b.WriteString("#END\n")
	return b.String()
}

// startGateway runs the gateway for mainText and routes. port 0 binds an
// ephemeral loopback port; otherwise 127.0.0.1:port as config.yaml says.
func startGateway(t *testing.T, port int, mainText, routes string) *gw {
	t.Helper()
	m, dir := gwtest.Load(t, mainText, routes)
	gwtest.Loopback(m, port)
	g := &gw{dir: dir, logs: &logStore{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", g.logs)
		}
	})
	logger := slog.New(&recHandler{s: g.logs})
	logs := &gateway.Logs{Error: logger, Access: logger.With("log", "access")}
	r := gwtest.Start(t, nil, func(ctx context.Context, ready func(plain, tls []net.Addr)) error {
		return gateway.Run(ctx, m, logs, gateway.RunOptions{ReloadInterval: 20 * time.Millisecond, Ready: ready})
	})
	g.base, g.port, g.stop = r.URL, r.Port(), r.Stop
	return g
}

// runErr runs a gateway expected not to start and returns its error.
func runErr(t *testing.T, mainText, routes string) (error, *logStore) {
	t.Helper()
	m, _ := gwtest.Load(t, mainText, routes)
	gwtest.Loopback(m, 0)
	logs := &logStore{}
	logger := slog.New(&recHandler{s: logs})
	err := gateway.Run(context.Background(), m, &gateway.Logs{Error: logger}, gateway.RunOptions{
		Ready: func(_, _ []net.Addr) { t.Error("gateway became ready") },
	})
	return err, logs
}

// get does one request and returns the response with its body read.
func get(t *testing.T, client *http.Client, url string) (*http.Response, string) {
	t.Helper()
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// waitFor polls cond until it holds or 20s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLog waits for a record matching attrs and returns the first.
func waitLog(t *testing.T, logs *logStore, attrs map[string]string) record {
	t.Helper()
	var got []record
	waitFor(t, fmt.Sprintf("a log record %v", attrs), func() bool {
		got = logs.find(attrs)
		return len(got) > 0
	})
	return got[0]
}

func portOf(t *testing.T, hostport string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(strings.TrimPrefix(hostport, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
