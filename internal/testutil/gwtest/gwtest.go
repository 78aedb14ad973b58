// Package gwtest is the harness of the tests that run a real gateway: it
// writes config.yaml and apisix.yaml into a temporary directory, loads them
// with the listener on an ephemeral loopback port, runs the gateway until it
// is ready and stops it when the test ends.
//
// It does not import internal/gateway, so that package's own tests can use
// it too: the caller passes gateway.Run in a closure (see Launch).
package gwtest

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mccutchen/go-httpbin/v2/httpbin"

	"github.com/heimdallgw/heimdall/internal/config"
)

// RunFunc runs the gateway until ctx ends, calling ready with its plain and
// TLS listener addresses once it serves: a closure over gateway.Run with
// RunOptions.Ready set to ready.
type RunFunc func(ctx context.Context, ready func(plain, tls []net.Addr)) error

// Gateway is a gateway started by Launch.
type Gateway struct {
	Addr net.Addr // the first plain listener
	URL  string   // http://Addr

	cancel  context.CancelFunc
	done    chan error
	once    sync.Once
	err     error
	stopped atomic.Bool // Stop was called by the test
}

// Launch starts run and waits until the gateway is ready, or returns the
// error run returned before that. A started gateway is stopped when the test
// ends; the test fails if run then returns an error (unless the test called
// Stop itself and so was given the error).
func Launch(tb testing.TB, run RunFunc) (*Gateway, error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, func(plain, _ []net.Addr) { ready <- plain[0] })
	}()
	select {
	case a := <-ready:
		g := &Gateway{Addr: a, URL: "http://" + a.String(), cancel: cancel, done: done}
		tb.Cleanup(func() {
			if err := g.stop(); err != nil && !g.stopped.Load() {
				tb.Errorf("gateway Run: %v", err)
			}
		})
		return g, nil
	case err := <-done:
		cancel()
		if err == nil {
			err = fmt.Errorf("gateway Run returned nil before it was ready")
		}
		return nil, err
	}
}

// Start is Launch that fails the test if the gateway does not start; logs,
// when not nil, is added to the failure.
func Start(tb testing.TB, logs fmt.Stringer, run RunFunc) *Gateway {
	tb.Helper()
	g, err := Launch(tb, run)
	if err != nil {
		if logs != nil {
			tb.Fatalf("gateway did not start: %v\nlog:\n%s", err, logs)
		}
		tb.Fatalf("gateway did not start: %v", err)
	}
	return g
}

// Stop cancels the gateway's context and waits for Run to return; it
// returns Run's error, the same on every call.
func (g *Gateway) Stop() error {
	g.stopped.Store(true)
	return g.stop()
}

func (g *Gateway) stop() error {
	g.once.Do(func() {
		g.cancel()
		g.err = <-g.done
	})
	return g.err
}

// Port is the port of Addr.
func (g *Gateway) Port() int { return g.Addr.(*net.TCPAddr).Port }

// FreePort returns a loopback port that was free a moment ago (nothing
// listens on it).
func FreePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Load writes mainText as config.yaml and routes as apisix.yaml into a new
// temporary directory and loads config.yaml; it returns the configuration
// and the directory.
func Load(tb testing.TB, mainText, routes string) (*config.Main, string) {
	tb.Helper()
	dir := tb.TempDir()
	WriteFile(tb, filepath.Join(dir, "config.yaml"), mainText)
	WriteFile(tb, filepath.Join(dir, "apisix.yaml"), routes)
	m, err := config.LoadMain(filepath.Join(dir, "config.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	return m, dir
}

// Loopback makes m listen on 127.0.0.1:port only; port 0 binds an ephemeral
// port (which config.yaml itself does not accept).
func Loopback(m *config.Main, port int) {
	m.APISIX.NodeListen = []config.Listen{{IP: "127.0.0.1", Port: port}}
	// The metrics and status listeners too: their defaults are fixed
	// ports, which tests running in parallel would fight over.
	m.PluginAttr.Prometheus.ExportAddr = config.Listen{IP: "127.0.0.1"}
	m.APISIX.Status.Listen = config.Listen{IP: "127.0.0.1"}
	m.Deployment.Admin.Listen = config.Listen{IP: "127.0.0.1"} // Admin API and dashboard
}

// WriteFile writes content to path through a temporary file and a rename,
// so the gateway's poller never sees half of it.
func WriteFile(tb testing.TB, path, content string) {
	tb.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
}

// HTTPBin starts go-httpbin on 127.0.0.1; it is closed when the test ends.
func HTTPBin(tb testing.TB) *httptest.Server {
	tb.Helper()
	up := httptest.NewServer(httpbin.New())
	tb.Cleanup(up.Close)
	return up
}
