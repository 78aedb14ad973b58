package metrics

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heimdallgw/heimdall/internal/wasm/abi"
	"github.com/heimdallgw/heimdall/internal/wasm/engine"
	"github.com/heimdallgw/heimdall/internal/wasm/host"
)

func TestCustomName(t *testing.T) {
	tests := []struct {
		name, in, want string
		labels         map[string]string
	}{
		{"tag extracted", "wasm_filter.cache.hits.route=1", "wasmcustom_wasm_filter_cache_hits", map[string]string{"route": "1"}},
		{"plain", "requests", "wasmcustom_requests", nil},
		{"tags anywhere", "a.method=GET.b.code=200", "wasmcustom_a_b", map[string]string{"method": "GET", "code": "200"}},
		{"later tag wins", "x.k=1.k=2", "wasmcustom_x", map[string]string{"k": "2"}},
		{"invalid characters", "my-filter.p95/latency", "wasmcustom_my_filter_p95_latency", nil},
		{"not a label name", "a.9x=1", "wasmcustom_a_9x_1", nil},
		{"reserved label name", "a.__name__=x", "wasmcustom_a___name___x", nil},
		{"empty segments", "a..b.", "wasmcustom_a_b", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, labels := CustomName(tt.in)
			if got != tt.want || !maps.Equal(labels, tt.labels) {
				t.Errorf("CustomName(%q) = %q %v, want %q %v", tt.in, got, labels, tt.want, tt.labels)
			}
		})
	}
}

type fakePlugin struct {
	name   string
	states []host.SlotState
	ms     []host.Metric
	net    host.NetworkStats
	stats  host.Stats
}

func (f *fakePlugin) Name() string                     { return f.name }
func (f *fakePlugin) InstanceStates() []host.SlotState { return f.states }
func (f *fakePlugin) Metrics() []host.Metric           { return f.ms }
func (f *fakePlugin) NetworkStats() host.NetworkStats  { return f.net }
func (f *fakePlugin) Stats() host.Stats                { return f.stats }

// TestCustomMetricsMerge: the same stat from two plugins is added up (one
// stats store, as in Envoy); a family gets the union of its label names;
// a name redefined with another type keeps the first.
func TestCustomMetricsMerge(t *testing.T) {
	m := New(Options{})
	m.SetPlugins([]Plugin{
		&fakePlugin{name: "a", states: []host.SlotState{{Live: true, Memory: 65536}, {}}, ms: []host.Metric{
			{Name: "hits.route=1", Type: abi.MetricCounter, Value: 3},
			{Name: "hits", Type: abi.MetricCounter, Value: 1},
			{Name: "size", Type: abi.MetricHistogram, Count: 2, Sum: 10},
		}},
		&fakePlugin{name: "b", states: []host.SlotState{{Live: true, Memory: 131072}}, net: host.NetworkStats{
			Refused: map[string]uint64{"http_call": 5, "sock_connect": 2}, HTTPCallsOverLimit: 3, HTTPCallsPending: 1,
		}, stats: host.Stats{Stats: engine.Stats{Instantiations: 6, Traps: 4, Timeouts: 1, Recycles: 2, BackoffRejects: 9}, FailedStreams: 13, LimitsExceeded: 7}, ms: []host.Metric{
			{Name: "hits.route=1", Type: abi.MetricCounter, Value: 4},
			{Name: "size", Type: abi.MetricGauge, Value: 99}, // another type: dropped
		}},
	})
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("the registry is inconsistent: %v", err)
	}
	got := map[string]string{}
	for _, f := range fams {
		for _, x := range f.Metric {
			key := f.GetName()
			for _, l := range x.Label {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case x.Counter != nil:
				got[key] = fmt.Sprint(x.Counter.GetValue())
			case x.Gauge != nil:
				got[key] = fmt.Sprint(x.Gauge.GetValue())
			case x.Histogram != nil:
				got[key] = fmt.Sprint(x.Histogram.GetSampleCount(), " ", x.Histogram.GetSampleSum(), " ", len(x.Histogram.Bucket))
			}
		}
	}
	for key, want := range map[string]string{
		"wasmcustom_hits,route=1":                                       "7",
		"wasmcustom_hits,route=":                                        "1",
		"wasmcustom_size":                                               "2 10 0", // only +Inf (implicit)
		"heimdall_wasm_instances,plugin=a,state=idle":                   "1",
		"heimdall_wasm_instances,plugin=a,state=empty":                  "1",
		"heimdall_wasm_instances,plugin=a,state=busy":                   "0",
		"heimdall_wasm_instances,plugin=b,state=idle":                   "1",
		"heimdall_wasm_instances,plugin=b,state=empty":                  "0",
		"heimdall_wasm_memory_bytes,plugin=a,slot=0":                    "65536",
		"heimdall_wasm_memory_bytes,plugin=b,slot=0":                    "131072",
		"heimdall_wasm_memory_bytes_total,plugin=a":                     "65536",
		"heimdall_wasm_pool_slots,plugin=a":                             "2",
		"heimdall_wasm_network_refusals_total,op=http_call,plugin=b":    "5",
		"heimdall_wasm_network_refusals_total,op=sock_connect,plugin=b": "2",
		"heimdall_wasm_http_calls_over_limit_total,plugin=b":            "3",
		"heimdall_wasm_http_calls_pending,plugin=b":                     "1",
		"heimdall_wasm_http_calls_pending,plugin=a":                     "0",
		"heimdall_wasm_instantiations_total,plugin=b":                   "6",
		"heimdall_wasm_traps_total,plugin=b":                            "4",
		"heimdall_wasm_timeouts_total,plugin=b":                         "1",
		"heimdall_wasm_recycles_total,plugin=b":                         "2",
		"heimdall_wasm_backoff_rejects_total,plugin=b":                  "9",
		"heimdall_wasm_failed_streams_total,plugin=b":                   "13",
		"heimdall_wasm_limits_exceeded_total,plugin=b":                  "7",
		"heimdall_wasm_traps_total,plugin=a":                            "0",
	} {
		if got[key] != want {
			t.Errorf("%s = %q, want %q", key, got[key], want)
		}
	}
	for key := range got {
		if strings.Contains(key, "memory_bytes,plugin=a,slot=1") {
			t.Errorf("a memory series for an empty slot: %s", key)
		}
		if strings.HasPrefix(key, "wasmcustom_size") && key != "wasmcustom_size" {
			t.Errorf("the gauge redefinition was exported: %s", key)
		}
	}
}

var _ prometheus.Collector = (*wasmCollector)(nil)

// TestBusySlotKeepsLastMemory: a slot running a callback is counted busy and
// shows the memory it had when last seen idle (a scrape never waits for it).
func TestBusySlotKeepsLastMemory(t *testing.T) {
	m := New(Options{})
	p := &fakePlugin{name: "a", states: []host.SlotState{{Live: true, Memory: 3 << 16}}}
	m.SetPlugins([]Plugin{p})
	get := func(name, state string) float64 {
		t.Helper()
		fams, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			if f.GetName() != name {
				continue
			}
			for _, x := range f.Metric {
				for _, l := range x.Label {
					if state == "" || (l.GetName() == "state" && l.GetValue() == state) {
						return x.GetGauge().GetValue()
					}
				}
			}
		}
		return -1
	}
	if got := get("heimdall_wasm_memory_bytes", ""); got != 3<<16 {
		t.Fatalf("idle memory = %v", got)
	}
	p.states = []host.SlotState{{Busy: true}}
	if got := get("heimdall_wasm_instances", "busy"); got != 1 {
		t.Errorf("busy = %v, want 1", got)
	}
	if got := get("heimdall_wasm_memory_bytes", ""); got != 3<<16 {
		t.Errorf("busy slot memory = %v, want the last seen %d", got, 3<<16)
	}
	p.states = []host.SlotState{{}}
	if got := get("heimdall_wasm_memory_bytes", ""); got != -1 {
		t.Errorf("an empty slot still has a memory series (%v)", got)
	}
}
