package proxy_test

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/proxy"
	"github.com/heimdallgw/heimdall/internal/server"
)

// seen is what an Observer was told about one request (the Observation
// itself is only valid during the call).
type seen struct {
	observer, route, node string
	status                int
	reqBytes, respBytes   int64
	duration, upstream    time.Duration
	upstreamed            bool
}

type recorder struct {
	name string
	mu   *sync.Mutex
	out  *[]seen
}

func (r recorder) ObserveRequest(o *proxy.Observation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.out = append(*r.out, seen{r.name, o.X.RouteID, o.X.Upstream, o.Status, o.RequestBytes, o.ResponseBytes,
		o.Duration, o.Upstream, o.Upstreamed})
}

// TestObserver: each request is reported once, when its stream closes, to
// its route's observer (or the proxy's for unmatched requests), with the
// sent status, exact sizes for a known request and the upstream time of
// requests that tried a node.
func TestObserver(t *testing.T) {
	var (
		mu  sync.Mutex
		got []seen
	)
	obs := func(name string) proxy.Observer { return recorder{name, &mu, &got} }
	ok := named(t, "ok")
	dead := deadAddr(t)
	routes := map[string]*proxy.Route{
		"/ok":    {ID: "ok", Upstream: upstream(t, nil, hostPort(ok)), Observer: obs("route-ok")},
		"/dead":  {ID: "dead", Upstream: upstream(t, nil, dead), Observer: obs("route-dead")},
		"/retry": {ID: "retry", Upstream: upstream(t, func(u *config.Upstream) { u.Retries = 1 }, dead, hostPort(ok)), Observer: obs("route-retry")},
		"/quiet": {ID: "quiet", Upstream: upstream(t, nil, hostPort(ok))}, // no observer of its own
	}
	p := proxy.New(proxy.Options{Observer: obs("proxy")})
	p.SetRoutes(prefixTable(routes))
	srv := server.New(server.Config{}, p)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l) //nolint:errcheck
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck
	})
	send := func(req string) string {
		t.Helper()
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, req) //nolint:errcheck
		b, _ := io.ReadAll(c)
		return string(b)
	}
	body := strings.Repeat("b", 5000)
	post := "POST /ok HTTP/1.1\r\nHost: gw\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n" + body
	notFound := "GET /nowhere HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"
	reqs := []struct{ req, status string }{
		{post, "HTTP/1.1 200"},
		{notFound, "HTTP/1.1 404"},
		{"GET /dead HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n", "HTTP/1.1 502"},
		{"GET /retry HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n", "HTTP/1.1 200"},
		{"GET /quiet HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n", "HTTP/1.1 200"},
	}
	var notFoundResp string
	for _, r := range reqs {
		resp := send(r.req)
		if !strings.HasPrefix(resp, r.status) {
			t.Fatalf("%q: got %q", r.req[:20], resp)
		}
		if r.req == notFound {
			notFoundResp = resp
		}
	}
	// Close runs after the response is written: wait for the last report.
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 4 {
		t.Fatalf("%d observations, want 4 (the route without an observer reports nothing): %+v", len(got), got)
	}
	byObs := map[string]seen{}
	for _, s := range got {
		byObs[s.observer] = s
	}
	if s := byObs["route-ok"]; s.route != "ok" || s.status != 200 || s.reqBytes != int64(len(post)) || !s.upstreamed ||
		s.node != hostPort(ok) || s.upstream <= 0 || s.upstream > s.duration {
		t.Errorf("POST /ok: %+v (want request bytes %d)", s, len(post))
	}
	nfBody := notFoundResp[strings.Index(notFoundResp, "\r\n\r\n")+4:]
	wantResp := int64(len("HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n\r\n") + len(nfBody))
	if s := byObs["proxy"]; s.route != "" || s.status != 404 || s.upstreamed || s.node != "" ||
		s.reqBytes != int64(len(notFound)) || s.respBytes != wantResp {
		t.Errorf("unmatched: %+v (want request %d, response %d bytes)", s, len(notFound), wantResp)
	}
	if s := byObs["route-dead"]; s.status != 502 || !s.upstreamed || s.node != dead {
		t.Errorf("dead node: %+v", s)
	}
	if s := byObs["route-retry"]; s.status != 200 || !s.upstreamed || s.node != hostPort(ok) {
		t.Errorf("retried: %+v", s)
	}
}
