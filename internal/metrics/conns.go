package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// ConnStats are the client connection counts nginx's stub_status reports
// that Heimdall can measure: accepted and handled (equal: Heimdall never
// drops an accepted connection for lack of resources) since start, and
// active now. nginx's reading, writing and waiting are not measured.
type ConnStats struct {
	Accepted, Handled, Active uint64
}

// SetConnections sets where apisix_nginx_http_current_connections is read
// from at scrape time; without it the metric is absent.
func (m *Metrics) SetConnections(f func() ConnStats) { m.conns.Store(&f) }

// connCollector exports apisix_nginx_http_current_connections{state}.
type connCollector struct {
	desc *prometheus.Desc
	src  *atomic.Pointer[func() ConnStats]
}

func newConnCollector(prefix string, src *atomic.Pointer[func() ConnStats]) *connCollector {
	return &connCollector{
		desc: prometheus.NewDesc(prefix+"nginx_http_current_connections", "Number of HTTP connections", []string{"state"}, nil),
		src:  src,
	}
}

func (c *connCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *connCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.src.Load()
	if f == nil {
		return
	}
	s := (*f)()
	for _, v := range []struct {
		state string
		n     uint64
	}{{"accepted", s.Accepted}, {"handled", s.Handled}, {"active", s.Active}} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(v.n), v.state)
	}
}
