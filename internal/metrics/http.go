package metrics

import (
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heimdallgw/heimdall/internal/proxy"
)

// RouteInfo are the label values of one route.
type RouteInfo struct {
	// ID is the route label ("" for requests no route matched).
	ID string
	// URI and Host are matched_uri and matched_host: the route's uri and
	// host patterns (its first one when it has several).
	URI, Host string
	// Service is the service label; Heimdall has no services yet, so "".
	Service string
}

// Route observes the requests of one route: it implements proxy.Observer.
// Its series are resolved on first use and cached, per upstream node and
// status code; both sets are bounded by the configuration (nodes) and by
// HTTP (codes), never by request data.
type Route struct {
	m    *Metrics
	info RouteInfo

	mu    sync.Mutex // serializes additions to nodes
	nodes atomic.Pointer[[]*nodeSeries]
}

// nodeSeries are a route's series for one upstream node ("" for requests
// that reached none).
type nodeSeries struct {
	addr                      string // the node "host:port", the cache key
	ip                        string // the node label: addr without the port
	request, upstream, apisix prometheus.Observer
	ingress, egress           prometheus.Counter

	mu    sync.Mutex // serializes additions to codes
	codes atomic.Pointer[[]codeSeries]
}

type codeSeries struct {
	code int
	c    prometheus.Counter
}

// Route returns the observer for a route. Calling it again for the same
// labels (a reload) returns an observer on the same series, so counts
// continue across route tables.
func (m *Metrics) Route(info RouteInfo) *Route {
	r := &Route{m: m, info: info}
	r.nodes.Store(&[]*nodeSeries{})
	return r
}

// ObserveRequest records one finished request.
func (r *Route) ObserveRequest(o *proxy.Observation) {
	ns := r.node(o.X.Upstream)
	ms := float64(o.Duration) / float64(time.Millisecond)
	ns.request.Observe(ms)
	own := ms
	if o.Upstreamed && ns.upstream != nil {
		up := float64(o.Upstream) / float64(time.Millisecond)
		ns.upstream.Observe(up)
		own = max(ms-up, 0)
	}
	ns.apisix.Observe(own)
	ns.ingress.Add(float64(o.RequestBytes))
	ns.egress.Add(float64(o.ResponseBytes))
	ns.code(r, o.Status).Inc()
	r.m.live.add(o.Status, o.RequestBytes, o.ResponseBytes)
}

// node returns the series for the node at addr, creating them once.
func (r *Route) node(addr string) *nodeSeries {
	for _, ns := range *r.nodes.Load() {
		if ns.addr == addr {
			return ns
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.nodes.Load()
	for _, ns := range old {
		if ns.addr == addr {
			return ns
		}
	}
	// APISIX's node label is the balancer's IP, without the port.
	ip := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		ip = h
	}
	i, lat, bw := r.info, r.m.latency, r.m.bandwidth
	ns := &nodeSeries{
		addr:    addr,
		ip:      ip,
		request: lat.WithLabelValues("request", i.ID, i.Service, "", ip),
		apisix:  lat.WithLabelValues("apisix", i.ID, i.Service, "", ip),
		ingress: bw.WithLabelValues("ingress", i.ID, i.Service, "", ip),
		egress:  bw.WithLabelValues("egress", i.ID, i.Service, "", ip),
	}
	if addr != "" {
		// Only requests that reached a node have an upstream latency (a
		// series without observations would be noise).
		ns.upstream = lat.WithLabelValues("upstream", i.ID, i.Service, "", ip)
	}
	ns.codes.Store(&[]codeSeries{})
	next := append(append(make([]*nodeSeries, 0, len(old)+1), old...), ns)
	r.nodes.Store(&next)
	return ns
}

// code returns the apisix_http_status counter for code, creating it once.
func (ns *nodeSeries) code(r *Route, code int) prometheus.Counter {
	for _, c := range *ns.codes.Load() {
		if c.code == code {
			return c.c
		}
	}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	old := *ns.codes.Load()
	for _, c := range old {
		if c.code == code {
			return c.c
		}
	}
	i := r.info
	c := r.m.status.WithLabelValues(strconv.Itoa(code), i.ID, i.URI, i.Host, i.Service, "", ns.ip)
	next := append(append(make([]codeSeries, 0, len(old)+1), old...), codeSeries{code, c})
	ns.codes.Store(&next)
	return c
}

var _ proxy.Observer = (*Route)(nil)
