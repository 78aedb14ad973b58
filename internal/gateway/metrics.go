package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/metrics"
	"github.com/heimdallgw/heimdall/internal/proxy"
	"github.com/heimdallgw/heimdall/internal/server"
)

// newMetrics returns the metrics of m, or nil when the export server is off
// (plugin_attr.prometheus.enable_export_server: false): then the proxy has
// no observer and requests pay nothing.
func newMetrics(m *config.Main) *metrics.Metrics {
	pr := m.PluginAttr.Prometheus
	if !pr.EnableExportServer {
		return nil
	}
	host, _ := os.Hostname()
	return metrics.New(metrics.Options{
		Prefix:   pr.MetricPrefix,
		Buckets:  pr.DefaultBuckets,
		Hostname: host,
		Version:  "dev",
		Runtime:  true,
	})
}

// Metrics returns the gateway's metrics, nil when they are off.
func (gw *Gateway) Metrics() *metrics.Metrics { return gw.metrics }

// routeObserver is the observer of r's requests; nil when metrics are off.
func (gw *Gateway) routeObserver(r *config.Route) proxy.Observer {
	if gw.metrics == nil {
		return nil
	}
	info := metrics.RouteInfo{ID: r.ID}
	if len(r.URIs) > 0 {
		info.URI = r.URIs[0]
	}
	if len(r.Hosts) > 0 {
		info.Host = r.Hosts[0]
	}
	return gw.metrics.Route(info)
}

// Ready reports why the gateway is not ready yet (nil once it is): routes
// must be applied, and no route may be waiting for its plugins to be
// configured without a previous version to serve (a reload whose plugins
// configure slowly keeps the gateway ready: the old versions serve). It
// backs /status/ready.
func (gw *Gateway) Ready() error {
	gw.mu.Lock()
	defer gw.mu.Unlock()
	switch {
	case gw.closed:
		return errors.New("shutting down")
	case gw.cur == nil:
		return errors.New("routes have not been applied yet")
	case gw.cur.waiting > 0:
		return fmt.Errorf("%d route(s) answer 503 until their plugins are configured", gw.cur.waiting)
	}
	return nil
}

// auxServer is the metrics or status listener: net/http, as neither is on
// the request path.
type auxServer struct {
	kind string
	ln   net.Listener
	srv  *http.Server
}

// listenAux binds the metrics and status listeners m asks for.
func (gw *Gateway) listenAux(m *config.Main) ([]*auxServer, error) {
	var out []*auxServer
	add := func(kind, where string, l config.Listen, h http.Handler) error {
		ln, err := net.Listen("tcp", l.Addr())
		if err != nil {
			return fmt.Errorf("%s: %s: %w", m.File, where, err)
		}
		out = append(out, &auxServer{kind: kind, ln: ln, srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(gw.log.Handler(), slog.LevelWarn),
		}})
		return nil
	}
	if gw.metrics != nil {
		pr := m.PluginAttr.Prometheus
		if err := add("metrics", "plugin_attr.prometheus.export_addr", pr.ExportAddr,
			metrics.ExportHandler(pr.ExportURI, gw.metrics.Handler())); err != nil {
			return nil, err
		}
	}
	if m.APISIX.Status.Enable {
		if err := add("status", "apisix.status", m.APISIX.Status.Listen, metrics.StatusHandler(gw.Ready)); err != nil {
			closeAux(out)
			return nil, err
		}
	}
	return out, nil
}

func closeAux(as []*auxServer) {
	for _, a := range as {
		a.ln.Close()
	}
}

func shutdownAux(ctx context.Context, as []*auxServer) {
	for _, a := range as {
		a.srv.Shutdown(ctx) //nolint:errcheck // scrapes and probes are short
	}
}

// countingListener counts accepted connections for
// apisix_nginx_http_current_connections. It returns the accepted conn
// itself, so the server's type checks on it still hold.
type countingListener struct {
	net.Listener
	n *atomic.Uint64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// countConnections wraps the plain and TLS listeners to count accepted
// connections and reports them, with srv's open ones, to the metrics (when
// on).
func (gw *Gateway) countConnections(srv *server.Server, plain, secure []net.Listener) ([]net.Listener, []net.Listener) {
	if gw.metrics == nil {
		return plain, secure
	}
	n := new(atomic.Uint64)
	wrap := func(ls []net.Listener) []net.Listener {
		out := make([]net.Listener, len(ls))
		for i, l := range ls {
			out[i] = countingListener{l, n}
		}
		return out
	}
	gw.metrics.SetConnections(func() metrics.ConnStats {
		a := n.Load()
		return metrics.ConnStats{Accepted: a, Handled: a, Active: uint64(max(srv.OpenConnections(), 0))}
	})
	return wrap(plain), wrap(secure)
}
