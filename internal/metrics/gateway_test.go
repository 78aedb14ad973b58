package metrics_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/heimdallgw/heimdall/internal/gateway"
	"github.com/heimdallgw/heimdall/internal/testutil/gwtest"
	"github.com/heimdallgw/heimdall/internal/testutil/logbuf"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

// running is a gateway under test with its metrics listener.
type running struct {
	base, metrics string
}

func start(t *testing.T, extraMain, routes string) *running {
	t.Helper()
	m, _ := gwtest.Load(t, "nginx_config:\n  error_log_level: info\n"+extraMain, routes)
	gwtest.Loopback(m, 0)
	var log logbuf.Buffer
	logs := &gateway.Logs{Error: slog.New(slog.NewTextHandler(&log, nil))}
	aux := make(chan string, 2)
	g := gwtest.Start(t, &log, func(ctx context.Context, ready func(plain, tls []net.Addr)) error {
		return gateway.Run(ctx, m, logs, gateway.RunOptions{
			ReloadInterval: 20 * time.Millisecond,
			Ready:          ready,
			Version:        "test-version",
			Listening: func(kind string, a net.Addr) {
				if kind == "metrics" {
					aux <- "http://" + a.String()
				}
			},
		})
	})
	return &running{base: g.URL, metrics: <-aux}
}

// scrape fetches path from the metrics listener and parses it with the
// Prometheus text parser.
func (r *running) scrape(t *testing.T, path string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(r.metrics + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	return fams
}

// series returns the metrics of family name whose labels include want.
func series(fams map[string]*dto.MetricFamily, name string, want map[string]string) []*dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
	var out []*dto.Metric
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		out = append(out, m)
	}
	return out
}

// one returns the single series of name with labels want.
func one(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	s := series(fams, name, want)
	if len(s) != 1 {
		t.Fatalf("%s%v: %d series, want 1", name, want, len(s))
	}
	return s[0]
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return -1
}

func do(t *testing.T, method, url string, body io.Reader) int {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck
	resp.Body.Close()
	return resp.StatusCode
}

// raw sends req on a new connection and reads the whole response (the
// request asks the server to close).
func raw(t *testing.T, base, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const teapotPlugin = "internal/metrics/testdata/counter"

// TestGatewayMetricsExact sends a known sequence of requests through the
// real gateway (a wasm plugin built from source, go-httpbin upstream) and
// checks the exported values exactly: status counts per route, code and
// node, latency observation counts per type, bandwidth bytes, the request
// total, node info and the plugin's own metrics.
func TestGatewayMetricsExact(t *testing.T) {
	up := strings.TrimPrefix(gwtest.HTTPBin(t).URL, "http://")
	upIP, _, _ := net.SplitHostPort(up)
	wasm := wasmbuild.MustBuild(t, teapotPlugin)
	r := start(t, fmt.Sprintf(`wasm:
  plugins:
    - name: counter
      priority: 1
      file: %s
      pool_size: 1
`, wasm), fmt.Sprintf(`routes:
  - id: r1
    uri: /r1/*
    upstream_id: 1
    plugins:
      proxy-rewrite:
        regex_uri: ["^/r1/(.*)", "/$1"]
      counter:
        conf: "{}"
  - id: r2
    uri: /plain/*
    host: gw.test
    upstream_id: 1
    plugins:
      proxy-rewrite:
        regex_uri: ["^/plain/(.*)", "/$1"]
upstreams:
  - id: 1
    nodes: {"%s": 1}
#END
`, up))

	for range 3 {
		if got := do(t, "GET", r.base+"/r1/status/200", nil); got != 200 {
			t.Fatalf("status/200: %d", got)
		}
	}
	for range 2 {
		if got := do(t, "GET", r.base+"/r1/status/503", nil); got != 503 {
			t.Fatalf("status/503: %d", got)
		}
	}
	if got := do(t, "GET", r.base+"/r1/teapot", nil); got != 418 {
		t.Fatalf("teapot: %d", got)
	}
	// Two unmatched requests, sent raw so the exact bytes are known.
	notFound := "GET /nowhere HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n"
	var notFoundResp string
	for range 2 {
		notFoundResp = raw(t, r.base, notFound)
		if !strings.HasPrefix(notFoundResp, "HTTP/1.1 404") {
			t.Fatalf("unmatched: %q", notFoundResp)
		}
	}
	body := strings.Repeat("x", 1000)
	post := "POST /plain/anything HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n" + body
	if resp := raw(t, r.base, post); !strings.HasPrefix(resp, "HTTP/1.1 200") {
		t.Fatalf("post: %q", resp)
	}

	fams := r.scrape(t, "/apisix/prometheus/metrics")
	// apisix_http_status, per route, code and node.
	for _, c := range []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"code": "200", "route": "r1", "matched_uri": "/r1/*", "matched_host": "", "node": upIP}, 3},
		{map[string]string{"code": "503", "route": "r1", "node": upIP}, 2},
		{map[string]string{"code": "418", "route": "r1", "node": ""}, 1}, // answered by the plugin
		{map[string]string{"code": "404", "route": "", "matched_uri": "", "node": ""}, 2},
		{map[string]string{"code": "200", "route": "r2", "matched_uri": "/plain/*", "matched_host": "gw.test", "node": upIP}, 1},
	} {
		if got := value(one(t, fams, "apisix_http_status", c.labels)); got != c.want {
			t.Errorf("apisix_http_status%v = %v, want %v", c.labels, got, c.want)
		}
	}
	if s := series(fams, "apisix_http_latency", map[string]string{"type": "upstream", "node": ""}); len(s) != 0 {
		t.Errorf("upstream latency series for requests that reached no node: %v", s)
	}
	if n := len(series(fams, "apisix_http_status", nil)); n != 5 {
		t.Errorf("apisix_http_status has %d series, want 5", n)
	}
	// apisix_http_latency: one request/apisix observation per request, an
	// upstream one only for requests that reached the upstream.
	for _, c := range []struct {
		labels map[string]string
		want   uint64
	}{
		{map[string]string{"type": "request", "route": "r1", "node": upIP}, 5},
		{map[string]string{"type": "upstream", "route": "r1", "node": upIP}, 5},
		{map[string]string{"type": "apisix", "route": "r1", "node": upIP}, 5},
		{map[string]string{"type": "request", "route": "r1", "node": ""}, 1},
		{map[string]string{"type": "request", "route": "", "node": ""}, 2},
		{map[string]string{"type": "upstream", "route": "r2", "node": upIP}, 1},
	} {
		h := one(t, fams, "apisix_http_latency", c.labels).GetHistogram()
		if h.GetSampleCount() != c.want {
			t.Errorf("apisix_http_latency%v count = %d, want %d", c.labels, h.GetSampleCount(), c.want)
		}
		// APISIX's default buckets (ms), then +Inf holding every observation.
		b := h.GetBucket()
		if len(b) != 16 || b[0].GetUpperBound() != 1 || b[14].GetUpperBound() != 60000 || b[15].GetCumulativeCount() != c.want {
			t.Errorf("apisix_http_latency%v buckets: %v", c.labels, b)
		}
	}
	// apisix_bandwidth: exact for the raw requests. Ingress is the request
	// as sent; egress the response head Heimdall produced plus the body
	// (the engine's Date/Server/Content-Length fields are not counted).
	if got := value(one(t, fams, "apisix_bandwidth", map[string]string{"type": "ingress", "route": ""})); got != float64(2*len(notFound)) {
		t.Errorf("ingress of the unmatched requests = %v, want %d", got, 2*len(notFound))
	}
	notFoundBody := notFoundResp[strings.Index(notFoundResp, "\r\n\r\n")+4:]
	wantEgress := len("HTTP/1.1 404 Not Found\r\n") + len("content-type: application/json\r\n") + 2 + len(notFoundBody)
	if got := value(one(t, fams, "apisix_bandwidth", map[string]string{"type": "egress", "route": ""})); got != float64(2*wantEgress) {
		t.Errorf("egress of the unmatched requests = %v, want %d", got, 2*wantEgress)
	}
	if got := value(one(t, fams, "apisix_bandwidth", map[string]string{"type": "ingress", "route": "r2"})); got != float64(len(post)) {
		t.Errorf("ingress of the POST = %v, want %d", got, len(post))
	}
	if got := value(one(t, fams, "apisix_http_requests_total", nil)); got != 9 {
		t.Errorf("apisix_http_requests_total = %v, want 9", got)
	}
	host, _ := os.Hostname()
	if got := value(one(t, fams, "apisix_node_info", map[string]string{"hostname": host, "version": "test-version"})); got != 1 {
		t.Errorf("apisix_node_info = %v", got)
	}
	if fams["apisix_etcd_reachable"] != nil {
		t.Error("apisix_etcd_reachable exported in standalone mode (APISIX sets it only with etcd)")
	}

	// The plugin's own metrics, Envoy-named with the tag extracted: it saw
	// the six r1 requests, with paths /status/200 (x3), /status/503 (x2)
	// and /teapot after proxy-rewrite.
	if got := value(one(t, fams, "wasmcustom_test_filter_hits", map[string]string{"route": "r1"})); got != 6 {
		t.Errorf("wasmcustom_test_filter_hits = %v, want 6", got)
	}
	if got := value(one(t, fams, "wasmcustom_test_filter_path_bytes", nil)); got != 3*11+2*11+7 {
		t.Errorf("wasmcustom_test_filter_path_bytes = %v, want %d", got, 3*11+2*11+7)
	}
	if h := one(t, fams, "wasmcustom_test_filter_request_headers", nil).GetHistogram(); h.GetSampleCount() != 6 || h.GetSampleSum() < 6 {
		t.Errorf("wasmcustom_test_filter_request_headers: count %d sum %v, want 6 and >= 6", h.GetSampleCount(), h.GetSampleSum())
	}
	// The wasm host's view of the plugin: one pool slot, instantiated.
	if got := value(one(t, fams, "heimdall_wasm_instances", map[string]string{"plugin": "counter", "state": "idle"})); got != 1 {
		t.Errorf("idle instances = %v, want 1", got)
	}
	if got := value(one(t, fams, "heimdall_wasm_pool_slots", map[string]string{"plugin": "counter"})); got != 1 {
		t.Errorf("pool slots = %v, want 1", got)
	}
	mem := value(one(t, fams, "heimdall_wasm_memory_bytes", map[string]string{"plugin": "counter", "slot": "0"}))
	if mem < 65536 || int(mem)%65536 != 0 {
		t.Errorf("instance memory = %v, want whole wasm pages", mem)
	}
	if got := value(one(t, fams, "heimdall_wasm_memory_bytes_max", map[string]string{"plugin": "counter"})); got != mem {
		t.Errorf("memory max = %v, want %v", got, mem)
	}

	// /metrics serves the same registry.
	if fams := r.scrape(t, "/metrics"); value(one(t, fams, "apisix_http_requests_total", nil)) != 9 {
		t.Error("/metrics differs from the export uri")
	}
	if resp, err := http.Get(r.metrics + "/other"); err != nil || resp.StatusCode != 404 {
		t.Errorf("another path on the metrics listener: %v %v", resp, err)
	}
}

// TestMetricsCardinalityBounded: requests to 1000 distinct paths under one
// route make one series per metric and type, labelled with the route id;
// no label value carries a request path.
func TestMetricsCardinalityBounded(t *testing.T) {
	up := strings.TrimPrefix(gwtest.HTTPBin(t).URL, "http://")
	r := start(t, "", fmt.Sprintf(`routes:
  - id: any
    uri: /anything/*
    upstream: {nodes: {"%s": 1}}
#END
`, up))
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	for i := range 1000 {
		resp, err := c.Get(fmt.Sprintf("%s/anything/item-%d?q=%d", r.base, i, i))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	fams := r.scrape(t, "/metrics")
	// One keep-alive connection carried the 1000 requests, and is still open.
	conns := func(fams map[string]*dto.MetricFamily, state string) float64 {
		return value(one(t, fams, "apisix_nginx_http_current_connections", map[string]string{"state": state}))
	}
	if a, h, act := conns(fams, "accepted"), conns(fams, "handled"), conns(fams, "active"); a != 1 || h != 1 || act != 1 {
		t.Errorf("connections accepted %v handled %v active %v, want 1 1 1", a, h, act)
	}
	if got := value(one(t, fams, "apisix_http_requests_total", nil)); got != 1000 {
		t.Errorf("apisix_http_requests_total = %v, want 1000", got)
	}
	tr.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for conns(r.scrape(t, "/metrics"), "active") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the closed connection is still counted active")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := value(one(t, fams, "apisix_http_status", map[string]string{"route": "any", "code": "200"})); got != 1000 {
		t.Errorf("apisix_http_status = %v, want 1000", got)
	}
	for name, want := range map[string]int{"apisix_http_status": 1, "apisix_http_latency": 3, "apisix_bandwidth": 2} {
		if got := len(series(fams, name, nil)); got != want {
			t.Errorf("%s: %d series, want %d", name, got, want)
		}
	}
	for name, f := range fams {
		if !strings.HasPrefix(name, "apisix_") {
			continue
		}
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if strings.Contains(l.GetValue(), "item-") {
					t.Errorf("%s label %s=%q carries a request path", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}
