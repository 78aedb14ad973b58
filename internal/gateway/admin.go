package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/heimdallgw/heimdall/internal/admin"
	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/dashboard"
	"github.com/heimdallgw/heimdall/internal/metrics"
	etcdstore "github.com/heimdallgw/heimdall/internal/store/etcd"
)

// adminServer is the Admin API listener of the traditional role.
type adminServer struct {
	srv *http.Server
	ln  net.Listener
}

// startAdmin opens deployment.admin.admin_listen and serves the Admin API
// and the dashboard on it (role traditional), or only the dashboard
// (standalone mode with heimdall.dashboard: true); nil otherwise. errc
// receives a serve failure.
func startAdmin(m *config.Main, ep *etcdstore.Provider, gw *Gateway, logs *Logs, errc chan<- error) (*adminServer, error) {
	withAPI := m.Deployment.HasAdmin() && ep != nil
	if !withAPI && !m.Heimdall.Dashboard {
		return nil, nil
	}
	ln, err := admin.Listen(m)
	if err != nil {
		return nil, err
	}
	dash := gw.dashboard(logs)
	var h http.Handler = dash
	kind := "dashboard"
	if withAPI {
		mux := http.NewServeMux()
		mux.Handle(dashboard.Prefix, dash)
		mux.Handle("/", admin.New(admin.Options{Main: m, Client: ep.Client(), Logger: logs.Error, Cache: ep}))
		h, kind = mux, "admin-api"
	}
	a := &adminServer{ln: ln, srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}}
	a.srv.RegisterOnShutdown(dash.Close) // open dashboard streams end at once
	go func() {
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serving the %s on %s: %w", kind, ln.Addr(), err)
		}
	}()
	logs.Error.Info("listening", "addr", ln.Addr().String(), "protocol", kind,
		"dashboard", "http://"+ln.Addr().String()+dashboard.Prefix)
	return a, nil
}

// dashboard is the /ui/ handler over this gateway.
func (gw *Gateway) dashboard(logs *Logs) *dashboard.Handler {
	o := dashboard.Options{
		Keys:  gw.main.Deployment.Admin.Keys,
		Allow: gw.main.Deployment.Admin.Allow,
		Logs:  logs.Plugins,
		State: gw.dashboardState,
	}
	if gw.metrics != nil {
		o.Traffic = gw.metrics.Snapshot
	}
	return dashboard.New(o)
}

func (gw *Gateway) dashboardState() dashboard.State {
	gw.mu.Lock()
	snap := gw.snap
	gw.mu.Unlock()
	var (
		routes  *config.Routes
		version uint64
	)
	if snap != nil {
		routes, version = snap.Routes, snap.Version
	}
	ps := make([]metrics.Plugin, 0, len(gw.main.Wasm.Plugins))
	for _, wp := range gw.main.Wasm.Plugins {
		ps = append(ps, gw.plugins[wp.Name])
	}
	return dashboard.StateOf(version, routes, ps, gw.main.Wasm.Plugins)
}

func (a *adminServer) addr() net.Addr {
	if a == nil {
		return nil
	}
	return a.ln.Addr()
}

func (a *adminServer) shutdown(ctx context.Context) {
	if a != nil {
		a.srv.Shutdown(ctx) //nolint:errcheck // best effort at exit
	}
}
