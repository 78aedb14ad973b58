package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/server"
	"github.com/heimdallgw/heimdall/internal/store"
)

// RunOptions are what Run needs besides config.yaml.
type RunOptions struct {
	// RoutesPath overrides heimdall.apisix_yaml (standalone mode only).
	RoutesPath string
	// ReloadInterval is how often apisix.yaml is polled; zero is the store's
	// default (1s).
	ReloadInterval time.Duration
	// ConfigureWait bounds how long an apply waits for plugins'
	// on_configure before installing the routes that are ready; zero means
	// DefaultConfigureWait.
	ConfigureWait time.Duration
	// Cluster, when set, is called once with the etcd provider's status
	// (config_provider etcd only), for metrics and status endpoints.
	Cluster func(ClusterStatus)
	// AdminReady, when set, is called with the Admin API's address
	// (traditional role) before Ready.
	AdminReady func(net.Addr)
	// Ready, when set, is called once every listener is bound and the
	// first routes are applied, with the bound addresses (plain first, then
	// TLS), so tests can listen on port 0.
	Ready func(plain, tls []net.Addr)
	// Listening, when set, is called with the address of the metrics
	// ("metrics") and status API ("status") listeners as each is bound,
	// before the first routes are applied.
	Listening func(kind string, addr net.Addr)
	// StreamReady, when set, is called before Ready with the bound
	// apisix.stream_proxy.tcp addresses (none when there are no stream
	// listeners).
	StreamReady func([]net.Addr)
	// Version labels apisix_node_info; "" keeps "dev".
	Version string
	// Built, when set, is called with the gateway once its plugins are
	// loaded, before anything serves (tests read PluginStats through it).
	Built func(*Gateway)
}

// Run serves the gateway described by m until ctx is done, then shuts down
// gracefully: listeners stop accepting, in-flight requests finish (up to
// heimdall.graceful_shutdown_timeout), plugins are released. Start-up errors
// (invalid routes, plugins that fail to load, ports in use) are returned
// before anything serves.
func Run(ctx context.Context, m *config.Main, logs *Logs, opts RunOptions) (err error) {
	gw, err := New(ctx, m, logs)
	if err != nil {
		return err
	}
	if opts.ConfigureWait > 0 {
		gw.configureWait = opts.ConfigureWait
	}
	if opts.Built != nil {
		opts.Built(gw)
	}
	closeCtx := context.WithoutCancel(ctx)
	defer func() {
		if cerr := gw.Close(closeCtx); cerr != nil {
			logs.Error.Warn("releasing plugins", "err", cerr)
		}
	}()
	if opts.Version != "" && gw.metrics != nil {
		host, _ := os.Hostname()
		gw.metrics.SetNode(host, opts.Version)
	}
	// The metrics and status listeners serve from before the first apply,
	// so a readiness probe sees 503 while plugins configure.
	aux, err := gw.listenAux(m)
	if err != nil {
		return err
	}
	var auxWG sync.WaitGroup
	for _, a := range aux {
		auxWG.Add(1)
		go func() {
			defer auxWG.Done()
			if err := a.srv.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logs.Error.Error("serving "+a.kind, "addr", a.ln.Addr().String(), "err", err)
			}
		}()
		logs.Error.Info("listening", "addr", a.ln.Addr().String(), "protocol", a.kind)
		if opts.Listening != nil {
			opts.Listening(a.kind, a.ln.Addr())
		}
	}
	defer func() {
		sctx, cancel := context.WithTimeout(closeCtx, 2*time.Second)
		defer cancel()
		shutdownAux(sctx, aux)
		auxWG.Wait()
	}()

	st, ep, err := newProvider(m, logs, opts, func(s *store.Snapshot) {
		if err := gw.Apply(ctx, s); err != nil {
			logs.Error.Error("new routes rejected; the previous routes keep serving",
				"file", s.Routes.File, "version", s.Version, "err", err)
		}
	})
	if err != nil {
		return err
	}
	defer st.Close()
	if ep != nil && opts.Cluster != nil {
		opts.Cluster(ep)
	}
	snap, err := st.Load(ctx)
	if err != nil {
		return err
	}
	if err := gw.Apply(ctx, snap); err != nil {
		return err
	}

	srvCfg := server.Config{
		MaxHeaderSize:      int(m.Heimdall.MaxHeaderSize),
		MaxRequestBodySize: m.Heimdall.MaxRequestBodySize,
		ReadTimeout:        m.NginxConfig.HTTP.ClientHeaderTimeout,
		BodyTimeout:        m.NginxConfig.HTTP.ClientBodyTimeout,
		IdleTimeout:        m.NginxConfig.HTTP.KeepaliveTimeout,
		ErrorLog:           logs.Error,
	}
	if m.APISIX.SSL.Enable {
		tc, err := server.LoadTLS(m.APISIX.SSL.Cert, m.APISIX.SSL.CertKey)
		if err != nil {
			return fmt.Errorf("%s: apisix.ssl: %w", m.File, err)
		}
		srvCfg.TLSConfig = tc
	}
	plain, err := listenAll(m.APISIX.NodeListen)
	if err != nil {
		return fmt.Errorf("%s: apisix.node_listen: %w", m.File, err)
	}
	var secure []net.Listener
	if m.APISIX.SSL.Enable {
		if secure, err = listenAll(m.APISIX.SSL.Listen); err != nil {
			closeAll(plain)
			return fmt.Errorf("%s: apisix.ssl.listen: %w", m.File, err)
		}
	}
	streamLns, err := listenAll(m.APISIX.StreamProxy.TCP)
	if err != nil {
		closeAll(plain)
		closeAll(secure)
		return fmt.Errorf("%s: apisix.stream_proxy.tcp: %w", m.File, err)
	}
	srv := server.New(srvCfg, gw.Proxy())
	plain, secure = gw.countConnections(srv, plain, secure)

	var wg sync.WaitGroup
	errc := make(chan error, len(plain)+len(secure)+len(streamLns)+2)
	serve := func(l net.Listener, fn func(net.Listener) error, kind string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(l); err != nil && !errors.Is(err, server.ErrServerClosed) {
				errc <- fmt.Errorf("serving %s on %s: %w", kind, l.Addr(), err)
			}
		}()
		logs.Error.Info("listening", "addr", l.Addr().String(), "protocol", kind)
	}
	for _, l := range plain {
		serve(l, srv.Serve, "http")
	}
	for _, l := range secure {
		serve(l, srv.ServeTLS, "https")
	}
	for _, l := range streamLns {
		serve(l, gw.stream.Serve, "tcp")
	}

	watchCtx, stopWatch := context.WithCancel(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		st.Run(watchCtx) //nolint:errcheck // returns nil when its context ends
	}()
	adm, err := startAdmin(m, ep, gw, logs, errc)
	if err != nil {
		stopWatch()
		srv.Shutdown(closeCtx)       //nolint:errcheck // nothing was served yet
		gw.stream.Shutdown(closeCtx) //nolint:errcheck // nothing was served yet
		wg.Wait()
		return err
	}
	if opts.AdminReady != nil && adm != nil {
		opts.AdminReady(adm.addr())
	}
	if opts.StreamReady != nil {
		opts.StreamReady(addrs(streamLns))
	}
	if opts.Ready != nil {
		opts.Ready(addrs(plain), addrs(secure))
	}

	var serveErr error
	select {
	case <-ctx.Done():
		logs.Error.Info("shutting down", "drain_timeout", m.Heimdall.GracefulShutdownTimeout.String())
	case serveErr = <-errc:
		logs.Error.Error("listener failed; shutting down", "err", serveErr)
	}
	stopWatch()
	sctx, cancel := context.WithTimeout(closeCtx, m.Heimdall.GracefulShutdownTimeout)
	defer cancel()
	adm.shutdown(sctx)
	if err := srv.Shutdown(sctx); err != nil {
		logs.Error.Warn("graceful shutdown incomplete; remaining connections closed", "err", err)
	}
	if err := gw.stream.Shutdown(sctx); err != nil {
		logs.Error.Warn("graceful shutdown incomplete; remaining TCP connections closed", "err", err)
	}
	wg.Wait()
	return serveErr
}

func listenAll(ls []config.Listen) ([]net.Listener, error) {
	var out []net.Listener
	for _, l := range ls {
		ln, err := net.Listen("tcp", l.Addr())
		if err != nil {
			closeAll(out)
			return nil, err
		}
		out = append(out, ln)
	}
	return out, nil
}

func closeAll(ls []net.Listener) {
	for _, l := range ls {
		l.Close()
	}
}

func addrs(ls []net.Listener) []net.Addr {
	out := make([]net.Addr, len(ls))
	for i, l := range ls {
		out[i] = l.Addr()
	}
	return out
}
