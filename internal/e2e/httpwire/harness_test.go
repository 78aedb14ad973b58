package httpwire

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/gateway"
	"github.com/heimdallgw/heimdall/internal/testutil/gwtest"
	"github.com/heimdallgw/heimdall/internal/testutil/logbuf"
)

// recorder is a real HTTP upstream (net/http) whose listener records every
// byte it reads, so a test sees exactly what the gateway sent.
type recorder struct {
	ln  net.Listener
	srv *http.Server

	mu   sync.Mutex
	raw  bytes.Buffer
	reqs []seen
}

// seen is one request as the upstream's HTTP server parsed it.
type seen struct {
	Method, URI, Host string
	Header            http.Header
	Body              string
}

// newRecorder starts a recording upstream; idle is its keep-alive idle
// timeout (0: net/http's default). Each request is answered 200 with
// "<method> <uri>" as the body.
func newRecorder(t testing.TB, idle time.Duration) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{}
	r.ln = &recListener{Listener: ln, r: r}
	r.srv = &http.Server{
		IdleTimeout: idle,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			body, _ := io.ReadAll(req.Body)
			r.mu.Lock()
			r.reqs = append(r.reqs, seen{req.Method, req.RequestURI, req.Host, req.Header.Clone(), string(body)})
			r.mu.Unlock()
			fmt.Fprintf(w, "%s %s", req.Method, req.RequestURI)
		}),
	}
	go r.srv.Serve(r.ln) //nolint:errcheck
	t.Cleanup(func() { r.srv.Close() })
	return r
}

func (r *recorder) addr() string { return r.ln.Addr().String() }

// bytes returns everything the upstream read so far, all connections
// concatenated in arrival order of reads.
func (r *recorder) bytes() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.raw.String()
}

func (r *recorder) requests() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]seen(nil), r.reqs...)
}

type recListener struct {
	net.Listener
	r *recorder
}

func (l *recListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &recConn{Conn: c, r: l.r}, nil
}

type recConn struct {
	net.Conn
	r *recorder
}

func (c *recConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.r.mu.Lock()
		c.r.raw.Write(p[:n])
		c.r.mu.Unlock()
	}
	return n, err
}

// gw is a gateway started from config.yaml text and routes.
type gw struct {
	addr string
	logs *logbuf.Buffer
}

// mainYAML is the config.yaml of the tests; extra is inserted under
// nginx_config (indented two spaces, e.g. "  http:\n    client_header_timeout: 1s\n").
func mainYAML(extra string) string {
	return `apisix:
  node_listen: 9080
deployment:
  role: data_plane
  role_data_plane: {config_provider: yaml}
nginx_config:
  error_log_level: info
` + extra + `heimdall:
  log_format: json
  access_log: {enable: false}
  graceful_shutdown_timeout: 2s
`
}

// startGateway runs a gateway with routes (apisix.yaml without #END);
// "UPSTREAM" in routes is replaced by the address of up.
func startGateway(t testing.TB, extra, routes string, up *recorder) *gw {
	t.Helper()
	routes = strings.ReplaceAll(routes, "UPSTREAM", up.addr())
	m, _ := gwtest.Load(t, mainYAML(extra), routes+"\n#END\n")
	gwtest.Loopback(m, 0)
	logs := &logbuf.Buffer{}
	g := gwtest.Start(t, logs, func(ctx context.Context, ready func(plain, tls []net.Addr)) error {
		l, err := gateway.NewLogs(m, io.Discard, logs)
		if err != nil {
			return err
		}
		return gateway.Run(ctx, m, l, gateway.RunOptions{Ready: ready})
	})
	return &gw{addr: g.Addr.String(), logs: logs}
}

// oneRoute is apisix.yaml with a catch-all route to the recorder.
const oneRoute = `routes:
  - id: 1
    uri: /*
    upstream_id: 1
upstreams:
  - id: 1
    nodes: {"UPSTREAM": 1}
`

// answer is what the client read back.
type answer struct {
	Status int    // 0: no response
	Raw    string // everything read until the connection closed or went quiet
	Closed bool   // the gateway closed the connection
}

// exchange sends raw on a new connection and reads until the gateway closes
// it or nothing arrives for quiet.
func (g *gw) exchange(t testing.TB, raw string, quiet time.Duration) answer {
	t.Helper()
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	return readAnswer(c, quiet)
}

func readAnswer(c net.Conn, quiet time.Duration) answer {
	var buf bytes.Buffer
	var a answer
	p := make([]byte, 64<<10)
	for {
		_ = c.SetReadDeadline(time.Now().Add(quiet))
		n, err := c.Read(p)
		buf.Write(p[:n])
		if err != nil {
			var ne net.Error
			a.Closed = !(errorsAs(err, &ne) && ne.Timeout())
			break
		}
	}
	a.Raw = buf.String()
	if resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(a.Raw)), nil); err == nil {
		a.Status = resp.StatusCode
		resp.Body.Close()
	}
	return a
}

func errorsAs(err error, ne *net.Error) bool {
	e, ok := err.(net.Error) //nolint:errorlint // net.Conn errors are not wrapped
	if ok {
		*ne = e
	}
	return ok
}

// configDefaults keeps the config import used by the helpers' callers.
var _ = config.DefaultTimeout
