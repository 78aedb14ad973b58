package metrics

import (
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/proxy"
)

func gather(t *testing.T, m *Metrics, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, x := range f.Metric {
			have := map[string]string{}
			for _, l := range x.Label {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			return x
		}
	}
	return nil
}

// TestRouteReloadAndSnapshot: a Route rebuilt for the same route (a reload)
// continues the same series; Snapshot totals what was observed; latency is
// split into request, upstream and apisix (request minus upstream, never
// negative); the node label drops the port.
func TestRouteReloadAndSnapshot(t *testing.T) {
	m := New(Options{Prefix: "gw_", Buckets: []float64{10, 100}, Hostname: "h", Version: "v"})
	info := RouteInfo{ID: "7", URI: "/api/*", Host: "api.test"}
	obs := func(r *Route, status int, node string, total, up time.Duration, upstreamed bool) {
		x := &filter.Exchange{Upstream: node}
		r.ObserveRequest(&proxy.Observation{X: x, Status: status, RequestBytes: 100, ResponseBytes: 1000,
			Duration: total, Upstream: up, Upstreamed: upstreamed})
	}
	r1 := m.Route(info)
	obs(r1, 200, "10.0.0.1:80", 50*time.Millisecond, 30*time.Millisecond, true)
	obs(r1, 200, "10.0.0.1:80", 5*time.Millisecond, 8*time.Millisecond, true) // upstream > total: apisix 0
	r2 := m.Route(info)                                                       // the reloaded route
	obs(r2, 502, "10.0.0.2:80", 200*time.Millisecond, 150*time.Millisecond, true)
	obs(r2, 200, "10.0.0.1:80", 1*time.Millisecond, 0, true)
	obs(r2, 0, "", 1*time.Millisecond, 0, false) // no status: class 0

	if c := gather(t, m, "gw_http_status", map[string]string{"code": "200", "route": "7", "matched_uri": "/api/*",
		"matched_host": "api.test", "node": "10.0.0.1"}); c == nil || c.Counter.GetValue() != 3 {
		t.Errorf("200 on node 1 across the reload: %v", c)
	}
	if c := gather(t, m, "gw_http_status", map[string]string{"code": "502", "node": "10.0.0.2"}); c == nil || c.Counter.GetValue() != 1 {
		t.Errorf("502: %v", c)
	}
	h := gather(t, m, "gw_http_latency", map[string]string{"type": "apisix", "node": "10.0.0.1"}).GetHistogram()
	if h.GetSampleCount() != 3 || h.GetSampleSum() != 20+0+1 {
		t.Errorf("apisix latency: count %d sum %v, want 3 and 21 ms", h.GetSampleCount(), h.GetSampleSum())
	}
	if b := h.GetBucket(); len(b) != 2 || b[0].GetCumulativeCount() != 2 || b[1].GetCumulativeCount() != 3 {
		t.Errorf("apisix latency buckets: %v", b)
	}
	if h := gather(t, m, "gw_http_latency", map[string]string{"type": "upstream", "node": "10.0.0.2"}).GetHistogram(); h.GetSampleSum() != 150 {
		t.Errorf("upstream latency: %v", h)
	}
	if c := gather(t, m, "gw_bandwidth", map[string]string{"type": "egress", "node": "10.0.0.1"}); c.Counter.GetValue() != 3000 {
		t.Errorf("egress: %v", c)
	}
	if c := gather(t, m, "gw_node_info", map[string]string{"hostname": "h", "version": "v"}); c.Gauge.GetValue() != 1 {
		t.Errorf("node info: %v", c)
	}
	want := Snapshot{Requests: 5, ByClass: [6]uint64{1, 0, 0, 0, 0, 1}, IngressBytes: 500, EgressBytes: 5000}
	want.ByClass[2] = 3
	if got := m.Snapshot(); got != want {
		t.Errorf("Snapshot = %+v, want %+v", got, want)
	}
	if c := gather(t, m, "gw_http_requests_total", nil); c.Gauge.GetValue() != 5 {
		t.Errorf("requests total: %v", c)
	}
}

// BenchmarkObserveNewNode is the first request of a route to a node: the
// slow path resolving the series (WithLabelValues), once per node and code.
func BenchmarkObserveNewNode(b *testing.B) {
	m := New(Options{})
	x := &filter.Exchange{Upstream: "127.0.0.1:1"}
	o := &proxy.Observation{X: x, Status: 200, Duration: time.Millisecond}
	for b.Loop() {
		m.Route(RouteInfo{ID: "r"}).ObserveRequest(o)
	}
}
