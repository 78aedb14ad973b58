package metrics

import (
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options configure Metrics. The zero value uses APISIX's defaults.
type Options struct {
	// Prefix starts the APISIX-named metrics; "" means "apisix_".
	Prefix string
	// Buckets are the apisix_http_latency bucket bounds in milliseconds;
	// nil means APISIX's DEFAULT_BUCKETS.
	Buckets []float64
	// Hostname and Version label apisix_node_info.
	Hostname, Version string
	// Runtime adds the Go runtime and process collectors (go_*, process_*).
	Runtime bool
}

// DefaultBuckets are APISIX's default latency buckets, in milliseconds.
var DefaultBuckets = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000}

// Metrics owns the registry and every series. It is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	status    *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	bandwidth *prometheus.CounterVec

	// live counts what Snapshot reports (and apisix_http_requests_total).
	live liveCounters

	unmatched *Route
	nodeInfo  *prometheus.GaugeVec
	conns     atomic.Pointer[func() ConnStats]

	mu      sync.Mutex
	plugins []Plugin
}

// New returns Metrics with the APISIX metrics registered.
func New(o Options) *Metrics {
	if o.Prefix == "" {
		o.Prefix = "apisix_"
	}
	if o.Buckets == nil {
		o.Buckets = DefaultBuckets
	}
	m := &Metrics{reg: prometheus.NewRegistry()}
	p := o.Prefix
	m.status = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: p + "http_status",
		Help: "HTTP status codes per service in APISIX",
	}, []string{"code", "route", "matched_uri", "matched_host", "service", "consumer", "node"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    p + "http_latency",
		Help:    "HTTP request latency in milliseconds per service in APISIX",
		Buckets: o.Buckets,
	}, []string{"type", "route", "service", "consumer", "node"})
	m.bandwidth = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: p + "bandwidth",
		Help: "Total bandwidth in bytes consumed per service in APISIX",
	}, []string{"type", "route", "service", "consumer", "node"})
	// APISIX exports the nginx request total as a gauge; kept for dashboards.
	requests := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: p + "http_requests_total",
		Help: "The total number of client requests since APISIX started",
	}, func() float64 { return float64(m.live.requests.Load()) })
	m.nodeInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: p + "node_info",
		Help: "Info of APISIX node",
	}, []string{"hostname", "version"})
	m.SetNode(o.Hostname, o.Version)
	m.reg.MustRegister(m.status, m.latency, m.bandwidth, requests, m.nodeInfo,
		newConnCollector(p, &m.conns), &wasmCollector{m: m})
	if o.Runtime {
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m.unmatched = m.Route(RouteInfo{})
	return m
}

// SetNode sets the labels of apisix_node_info (one series, value 1).
func (m *Metrics) SetNode(hostname, version string) {
	m.nodeInfo.Reset()
	m.nodeInfo.WithLabelValues(hostname, version).Set(1)
}

// Registry is the registry every Heimdall metric is on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Unmatched observes the requests no route matched (empty route label, as
// APISIX).
func (m *Metrics) Unmatched() *Route { return m.unmatched }

// Snapshot is the live request totals, for in-process readers.
type Snapshot struct {
	Requests uint64
	// ByClass counts responses by status class: [1] is 1xx ... [5] is
	// 5xx; [0] is anything else.
	ByClass [6]uint64
	// Bytes in and out (apisix_bandwidth summed).
	IngressBytes, EgressBytes uint64
}

// Snapshot returns the totals so far. Reading is a few atomic loads: poll
// it (e.g. once a second) to compute rates.
func (m *Metrics) Snapshot() Snapshot {
	var s Snapshot
	s.Requests = m.live.requests.Load()
	for i := range s.ByClass {
		s.ByClass[i] = m.live.classes[i].Load()
	}
	s.IngressBytes = m.live.ingress.Load()
	s.EgressBytes = m.live.egress.Load()
	return s
}

type liveCounters struct {
	requests        atomic.Uint64
	classes         [6]atomic.Uint64
	ingress, egress atomic.Uint64
}

func (l *liveCounters) add(status int, in, out int64) {
	l.requests.Add(1)
	c := status / 100
	if c < 1 || c > 5 {
		c = 0
	}
	l.classes[c].Add(1)
	l.ingress.Add(uint64(in))
	l.egress.Add(uint64(out))
}
