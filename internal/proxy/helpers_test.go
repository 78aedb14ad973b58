package proxy_test

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/proxy"
	"github.com/heimdallgw/heimdall/internal/server"
	"github.com/heimdallgw/heimdall/internal/testutil/tlstest"
)

// env is a gateway on real sockets: an HTTP/1.1 listener and a TLS listener
// (HTTP/2 by ALPN), with clients for both.
type env struct {
	p        *proxy.Proxy
	srv      *server.Server
	httpURL  string
	httpsURL string
	h1       *http.Client
	h2       *http.Client
}

// proto is one way of talking to the gateway.
type proto struct {
	name   string
	client func(e *env) *http.Client
	base   func(e *env) string
}

var protos = []proto{
	{"h1", func(e *env) *http.Client { return e.h1 }, func(e *env) string { return e.httpURL }},
	{"h2", func(e *env) *http.Client { return e.h2 }, func(e *env) string { return e.httpsURL }},
}

// prefixTable routes by the longest matching path prefix.
func prefixTable(routes map[string]*proxy.Route) *proxy.Table {
	return proxy.NewTable(func(_, _, path []byte) *proxy.Route {
		var best *proxy.Route
		bestLen := -1
		for prefix, r := range routes {
			if strings.HasPrefix(string(path), prefix) && len(prefix) > bestLen {
				best, bestLen = r, len(prefix)
			}
		}
		return best
	})
}

func newEnv(t testing.TB, cfg server.Config, routes map[string]*proxy.Route) *env {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	p := proxy.New(proxy.Options{AccessLog: log, ErrorLog: log})
	p.SetRoutes(prefixTable(routes))
	cert := tlstest.SelfSigned(t)
	cfg.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	cfg.ErrorLog = log
	srv := server.New(cfg, p)
	l1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l1)    //nolint:errcheck
	go srv.ServeTLS(l2) //nolint:errcheck
	e := &env{p: p, srv: srv, httpURL: "http://" + l1.Addr().String(), httpsURL: "https://" + l2.Addr().String()}
	e.h1 = &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64}}
	e.h2 = &http.Client{Transport: &http2.Transport{DisableCompression: true,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // test certificate
	t.Cleanup(func() {
		e.h1.CloseIdleConnections()
		e.h2.CloseIdleConnections()
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck
	})
	return e
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// upstream builds a proxy.Upstream over addrs ("host:port"), weight 1 each
// unless given as "host:port=weight".
func upstream(t testing.TB, mod func(*config.Upstream), addrs ...string) *proxy.Upstream {
	t.Helper()
	u := &config.Upstream{ID: "u1", Type: config.BalancerRoundRobin, Scheme: "http", PassHost: "pass", Retries: -1,
		Timeout: config.Timeout{Connect: 2 * time.Second, Send: 5 * time.Second, Read: 5 * time.Second}}
	for _, a := range addrs {
		w := 1
		if i := strings.IndexByte(a, '='); i >= 0 {
			w, _ = strconv.Atoi(a[i+1:])
			a = a[:i]
		}
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatal(err)
		}
		pn, _ := strconv.Atoi(port)
		u.Nodes = append(u.Nodes, config.Node{Host: host, Port: pn, Weight: w})
	}
	if mod != nil {
		mod(u)
	}
	up, err := proxy.NewUpstream(u, proxy.UpstreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	return up
}

func hostPort(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

// deadAddr is a local port nothing listens on.
func deadAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

// named is an upstream that answers its name.
func named(t testing.TB, name string) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) //nolint:errcheck
		w.Write([]byte(name))       //nolint:errcheck
	}))
	t.Cleanup(s.Close)
	return s
}

func do(t testing.TB, c *http.Client, method, url string, body io.Reader, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp, string(b)
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
