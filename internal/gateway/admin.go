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
	etcdstore "github.com/heimdallgw/heimdall/internal/store/etcd"
)

// adminServer is the Admin API listener of the traditional role.
type adminServer struct {
	srv *http.Server
	ln  net.Listener
}

// startAdmin opens deployment.admin.admin_listen and serves the Admin API on
// it (role traditional only; nil otherwise). errc receives a serve failure.
func startAdmin(m *config.Main, ep *etcdstore.Provider, logs *Logs, errc chan<- error) (*adminServer, error) {
	if !m.Deployment.HasAdmin() || ep == nil {
		return nil, nil
	}
	ln, err := admin.Listen(m)
	if err != nil {
		return nil, err
	}
	a := &adminServer{ln: ln, srv: &http.Server{
		Handler:           admin.New(admin.Options{Main: m, Client: ep.Client(), Logger: logs.Error, Cache: ep}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}}
	go func() {
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serving the Admin API on %s: %w", ln.Addr(), err)
		}
	}()
	logs.Error.Info("listening", "addr", ln.Addr().String(), "protocol", "admin-api")
	return a, nil
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
