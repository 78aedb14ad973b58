package host

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/heimdallgw/heimdall/internal/egress"
	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/testutil/logbuf"
)

// countingServer is a real HTTP server on 127.0.0.1 that counts the
// connections it accepted (to prove a refused call never connected).
type countingServer struct {
	*httptest.Server
	conns atomic.Int64
}

func newCountingServer(t *testing.T, h http.HandlerFunc) *countingServer {
	t.Helper()
	cs := &countingServer{}
	cs.Server = httptest.NewUnstartedServer(h)
	cs.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			cs.conns.Add(1)
		}
	}
	cs.Start()
	t.Cleanup(cs.Close)
	return cs
}

func (cs *countingServer) addr() string { return strings.TrimPrefix(cs.URL, "http://") }

func (cs *countingServer) port() int {
	_, p, _ := net.SplitHostPort(cs.addr())
	n, _ := strconv.Atoi(p)
	return n
}

// recordingDialer dials for real (loopback only in these tests) and records
// every address it was asked to dial.
type recordingDialer struct {
	mu    sync.Mutex
	addrs []string
}

func (d *recordingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	d.mu.Unlock()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsLoopback() {
		// Never send traffic off this host, whatever the code under test
		// asks for; the recorded address is what the test checks.
		return nil, fmt.Errorf("test dialer: refusing non-loopback %s", addr)
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

func (d *recordingDialer) dialed() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

// scriptedResolver answers each lookup of a name with the next answer of a
// script (the last one repeats). A real DNS server cannot be configured per
// test, so DNS rebinding — an answer that changes between lookups — is
// played by this fake; everything else (policy, dialer, HTTP) is real.
type scriptedResolver struct {
	mu      sync.Mutex
	answers [][]netip.Addr
	lookups int
}

func (r *scriptedResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := min(r.lookups, len(r.answers)-1)
	r.lookups++
	return r.answers[i], nil
}

// callPlugin loads the conformance plugin with the egress policy cfg (nil:
// none given to the host) and named upstreams.
func callPlugin(t *testing.T, cfg *egress.Config, named map[string]string, maxPending int) (filter.Factory, *Plugin, *logbuf.Buffer) {
	t.Helper()
	lb := &logbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pc := PluginConfig{MaxPendingHTTPCalls: maxPending, Upstreams: func(name string) (string, bool) {
		a, ok := named[name]
		return a, ok
	}}
	if cfg != nil {
		c := *cfg
		c.Plugin, c.Logger = "conformance", log
		eg, err := egress.New(c)
		if err != nil {
			t.Fatal(err)
		}
		pc.Egress = eg
	}
	p, _ := loadConformance(t, pc)
	// Keep the host's own lines too: loadConformance logs to its buffer.
	return newFactory(t, p, ""), p, lb
}

// call runs one request whose plugin dispatches an http_call with the
// given x-call-* headers and returns the request headers the plugin set.
func call(t *testing.T, f filter.Factory, hdrs ...string) *filter.Exchange {
	t.Helper()
	x := exchange("GET", "/", append([]string{"x-test", "httpcall"}, hdrs...)...)
	r := run(t, []filter.Factory{f}, x, nil, nil, upstream{status: 200})
	if r.err != nil || r.local != nil {
		t.Fatalf("request: err %v local %+v", r.err, r.local)
	}
	return x
}

// TestHTTPCallWithoutPolicy: a plugin with no network policy reaches
// nothing by host:port — a real listening loopback port, the cloud metadata
// address, the gateway's own listener, a name — each refused at once with
// BadArgument before any dial (the dialer records nothing, the listener
// accepts nothing) and logged with the reason. Named upstreams still work.
func TestHTTPCallWithoutPolicy(t *testing.T) {
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	gwPort := strconv.Itoa(srv.port()) // the "gateway listener" for Reserved
	d := &recordingDialer{}
	f, p, logs := callPlugin(t, &egress.Config{
		Reserved: []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:" + gwPort)},
		Dialer:   d,
	}, map[string]string{"named": srv.addr()}, 0)
	for _, tc := range []struct{ upstream, dest string }{
		{srv.addr(), "destination=" + srv.addr() + ` reason="no network policy"`},
		{"169.254.169.254:80", `destination=169.254.169.254:80 reason="no network policy"`},
		{"[::1]:" + gwPort, `destination=[::1]:` + gwPort + ` reason="no network policy"`},
		{"localhost:" + gwPort, `destination=localhost:` + gwPort + ` reason="no network policy"`},
	} {
		t.Run(tc.upstream, func(t *testing.T) {
			x := call(t, f, "x-call-upstream", tc.upstream)
			if got := hdr(&x.Req.Header, "x-call-error"); got != "2" {
				t.Fatalf("x-call-error = %q, want 2 (BadArgument)", got)
			}
			if !strings.Contains(logs.String(), `msg="plugin network access refused" plugin=conformance op=http_call `+tc.dest) {
				t.Fatalf("no refusal line with %s:\n%s", tc.dest, logs)
			}
		})
	}
	if got := d.dialed(); len(got) != 0 {
		t.Fatalf("refused calls dialled %v", got)
	}
	if n := srv.conns.Load(); n != 0 {
		t.Fatalf("the listener accepted %d connections from refused calls", n)
	}
	if got := p.NetworkStats().Refused[egress.OpHTTPCall]; got != 4 {
		t.Errorf("Refused[http_call] = %d, want 4", got)
	}
	// The operator's upstream is allowed by default (dialled as configured,
	// not through the policy's dialer).
	x := call(t, f, "x-call-upstream", "named")
	if got := hdr(&x.Req.Header, "x-call-status"); got != "204" {
		t.Fatalf("named upstream: x-call-status = %q (error %q)", got, hdr(&x.Req.Header, "x-call-error"))
	}
}

// TestHTTPCallGatewayPort: the gateway's own listener is refused even when
// its address is allowed, unless an entry names the port.
func TestHTTPCallGatewayPort(t *testing.T) {
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	port := strconv.Itoa(srv.port())
	reserved := []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:" + port)}
	f, _, logs := callPlugin(t, &egress.Config{Allow: []string{"127.0.0.0/8"}, Reserved: reserved}, nil, 0)
	if got := hdr(&call(t, f, "x-call-upstream", srv.addr()).Req.Header, "x-call-error"); got != "2" {
		t.Fatalf("x-call-error = %q, want 2", got)
	}
	if !strings.Contains(logs.String(), `destination=`+srv.addr()+` reason="gateway port not explicitly allowed"`) {
		t.Fatalf("no refusal line:\n%s", logs)
	}
	if n := srv.conns.Load(); n != 0 {
		t.Fatalf("%d connections", n)
	}
	f, _, _ = callPlugin(t, &egress.Config{Allow: []string{"127.0.0.1/32:" + port}, Reserved: reserved}, nil, 0)
	if got := hdr(&call(t, f, "x-call-upstream", srv.addr()).Req.Header, "x-call-status"); got != "204" {
		t.Fatalf("port listed: x-call-status = %q", got)
	}
}

// TestHTTPCallUpstreamsNarrowed: network.upstreams lists the named
// upstreams a plugin may call; others are refused with BadArgument before
// any connection, an empty list refuses all.
func TestHTTPCallUpstreamsNarrowed(t *testing.T) {
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	named := map[string]string{"auth": srv.addr(), "billing": srv.addr()}
	f, p, logs := callPlugin(t, &egress.Config{Upstreams: []string{"auth"}}, named, 0)
	if got := hdr(&call(t, f, "x-call-upstream", "auth").Req.Header, "x-call-status"); got != "204" {
		t.Fatalf("listed upstream: x-call-status = %q", got)
	}
	before := srv.conns.Load()
	if got := hdr(&call(t, f, "x-call-upstream", "billing").Req.Header, "x-call-error"); got != "2" {
		t.Fatalf("unlisted upstream: x-call-error = %q, want 2", got)
	}
	if srv.conns.Load() != before {
		t.Fatal("the refused call connected")
	}
	if !strings.Contains(logs.String(), `op=http_call destination="upstream billing" reason="upstream not in network.upstreams"`) {
		t.Fatalf("no refusal line:\n%s", logs)
	}
	if got := p.NetworkStats().Refused[egress.OpHTTPCall]; got != 1 {
		t.Errorf("Refused[http_call] = %d, want 1", got)
	}

	none, _, _ := callPlugin(t, &egress.Config{Upstreams: []string{}}, named, 0)
	if got := hdr(&call(t, none, "x-call-upstream", "auth").Req.Header, "x-call-error"); got != "2" {
		t.Fatalf("upstreams: [] still allows auth: x-call-error = %q", got)
	}
}

// TestHTTPCallAllowedLiteral: a literal host:port the policy allows is
// dialled through the policy's dialer (exactly its address, once); the
// request carries the plugin's :authority, and an empty :authority becomes
// the destination's host:port. Missing :authority or :path → BadArgument.
func TestHTTPCallAllowedLiteral(t *testing.T) {
	hosts := make(chan string, 4)
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		hosts <- r.Host
		w.Header().Set("Connection", "close")
		w.Write([]byte("hi"))
	})
	d := &recordingDialer{}
	f, _, logs := callPlugin(t, &egress.Config{Allow: []string{"127.0.0.1/32:" + strconv.Itoa(srv.port())}, Dialer: d}, nil, 0)

	x := call(t, f, "x-call-upstream", srv.addr())
	if hdr(&x.Req.Header, "x-call-status") != "200" || hdr(&x.Req.Header, "x-call-body") != "hi" {
		t.Fatalf("allowed literal: status %q body %q\n%s", hdr(&x.Req.Header, "x-call-status"), hdr(&x.Req.Header, "x-call-body"), logs)
	}
	if h := <-hosts; h != "example" {
		t.Errorf("Host = %q, want the plugin's :authority", h)
	}
	x = call(t, f, "x-call-upstream", srv.addr(), "x-call-authority", "")
	if hdr(&x.Req.Header, "x-call-status") != "200" {
		t.Fatalf("empty :authority: x-call-status %q error %q", hdr(&x.Req.Header, "x-call-status"), hdr(&x.Req.Header, "x-call-error"))
	}
	if h := <-hosts; h != srv.addr() {
		t.Errorf("empty :authority: Host = %q, want %q", h, srv.addr())
	}
	if got, want := strings.Join(d.dialed(), ","), srv.addr()+","+srv.addr(); got != want {
		t.Errorf("dialled %s, want %s", got, want)
	}
	for _, omit := range []string{":authority", ":path", ":method"} {
		x = call(t, f, "x-call-upstream", srv.addr(), "x-call-omit", omit)
		if got := hdr(&x.Req.Header, "x-call-error"); got != "2" {
			t.Errorf("without %s: x-call-error = %q, want 2 (BadArgument)", omit, got)
		}
	}
}

// TestHTTPCallDNSRebinding: a name that first resolves to an allowed address
// and then to the metadata address: the second call is refused and nothing
// but the allowed address is ever dialled; each call resolves the name once
// (the address dialled is the address checked). A mixed answer dials only
// its allowed address.
func TestHTTPCallDNSRebinding(t *testing.T) {
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close") // no pooled connection: every call dials
		w.WriteHeader(204)
	})
	port := strconv.Itoa(srv.port())
	loop, meta := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("169.254.169.254")
	res := &scriptedResolver{answers: [][]netip.Addr{{loop}, {meta}, {meta, loop}}}
	d := &recordingDialer{}
	f, p, logs := callPlugin(t, &egress.Config{
		Allow: []string{"rebind.test", "127.0.0.1/32:" + port}, DNS: true, Resolver: res, Dialer: d,
	}, nil, 0)
	up := "rebind.test:" + port

	if got := hdr(&call(t, f, "x-call-upstream", up).Req.Header, "x-call-status"); got != "204" {
		t.Fatalf("first call: x-call-status = %q\n%s", got, logs)
	}
	// The name is allowed, so dispatch succeeds; the lookup then answers the
	// metadata address, which is refused: the call fails (no headers).
	x := call(t, f, "x-call-upstream", up)
	if hdr(&x.Req.Header, "x-call-error") != "" || hdr(&x.Req.Header, "x-call-headers") != "0" {
		t.Fatalf("rebound call: error %q headers %q, want a failed call", hdr(&x.Req.Header, "x-call-error"), hdr(&x.Req.Header, "x-call-headers"))
	}
	if !strings.Contains(logs.String(), `destination="rebind.test:`+port+` (169.254.169.254)" reason="link-local address not explicitly allowed"`) {
		t.Fatalf("no refusal line for the rebound address:\n%s", logs)
	}
	if got := hdr(&call(t, f, "x-call-upstream", up).Req.Header, "x-call-status"); got != "204" {
		t.Fatalf("mixed answer: x-call-status = %q", got)
	}
	want := "127.0.0.1:" + port
	if got := strings.Join(d.dialed(), ","); got != want+","+want {
		t.Fatalf("dialled %s, want only %s twice", got, want)
	}
	if res.lookups != 3 {
		t.Errorf("%d lookups for 3 calls, want 3 (one per dial, never re-resolved)", res.lookups)
	}
	if got := p.NetworkStats().Refused[egress.OpHTTPCall]; got != 1 {
		t.Errorf("Refused[http_call] = %d, want 1", got)
	}
}

// TestHTTPCallRedirectNotFollowed: a 302 to the metadata address goes back
// to the plugin as it is (status and Location); nothing follows it.
func TestHTTPCallRedirectNotFollowed(t *testing.T) {
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	})
	d := &recordingDialer{}
	for _, tc := range []struct {
		name string
		cfg  *egress.Config
		up   string
	}{
		{"literal", &egress.Config{Allow: []string{"127.0.0.1/32:" + strconv.Itoa(srv.port())}, Dialer: d}, srv.addr()},
		{"named", &egress.Config{Dialer: d}, "named"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _, _ := callPlugin(t, tc.cfg, map[string]string{"named": srv.addr()}, 0)
			x := call(t, f, "x-call-upstream", tc.up)
			if hdr(&x.Req.Header, "x-call-status") != "302" || hdr(&x.Req.Header, "x-call-location") != "http://169.254.169.254/latest/meta-data/" {
				t.Fatalf("status %q location %q", hdr(&x.Req.Header, "x-call-status"), hdr(&x.Req.Header, "x-call-location"))
			}
		})
	}
	for _, a := range d.dialed() {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			t.Fatalf("dialled %s", a)
		}
	}
}

// TestHTTPCallRefusalLoggedOnce: N refused calls to one destination log one
// line and count N.
func TestHTTPCallRefusalLoggedOnce(t *testing.T) {
	f, p, logs := callPlugin(t, &egress.Config{}, nil, 0)
	const n = 25
	for i := 0; i < n; i++ {
		if got := hdr(&call(t, f, "x-call-upstream", "169.254.169.254:80").Req.Header, "x-call-error"); got != "2" {
			t.Fatalf("call %d: x-call-error = %q", i, got)
		}
	}
	if c := strings.Count(logs.String(), "plugin network access refused"); c != 1 {
		t.Fatalf("%d refusal lines for %d calls, want 1:\n%s", c, n, logs)
	}
	if got := p.NetworkStats().Refused[egress.OpHTTPCall]; got != n {
		t.Fatalf("Refused[http_call] = %d, want %d", got, n)
	}
}

// TestHTTPCallMaxPending: with max_pending_http_calls 1 and one call
// waiting on a slow upstream, the next dispatch fails with InternalFailure
// (counted, logged once); once the first answers, calls work again.
func TestHTTPCallMaxPending(t *testing.T) {
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
			<-release
		}
		w.WriteHeader(204)
	})
	f, p, _ := callPlugin(t, nil, map[string]string{"up": srv.addr()}, 1)
	done := make(chan result)
	slow := exchange("GET", "/", "x-test", "httpcall", "x-call-upstream", "up", "x-call-path", "/slow")
	go func() { done <- run(t, []filter.Factory{f}, slow, nil, nil, upstream{status: 200}) }()
	<-arrived
	for i := 0; i < 3; i++ {
		if got := hdr(&call(t, f, "x-call-upstream", "up").Req.Header, "x-call-error"); got != "10" {
			t.Fatalf("over the limit: x-call-error = %q, want 10 (InternalFailure)", got)
		}
	}
	if st := p.NetworkStats(); st.HTTPCallsOverLimit != 3 || st.HTTPCallsPending != 1 {
		t.Fatalf("stats %+v, want 3 over the limit and 1 pending", st)
	}
	close(release)
	if r := <-done; r.err != nil || r.local != nil {
		t.Fatalf("slow call: err %v local %+v", r.err, r.local)
	}
	if got := hdr(&slow.Req.Header, "x-call-status"); got != "204" {
		t.Fatalf("slow call: x-call-status = %q", got)
	}
	if got := hdr(&call(t, f, "x-call-upstream", "up").Req.Header, "x-call-status"); got != "204" {
		t.Fatalf("after the slow call: x-call-status = %q", got)
	}
}

// TestHTTPCallPathCannotChangeDestination: the plugin's :path is only a
// path: one that looks like an authority ("//169.254.169.254/...") goes to
// the chosen upstream as a path, one that is not an absolute path
// ("@169.254.169.254/...") is refused with BadArgument; the named
// upstream's transport (which skips the address rules) and the literal one
// dial nothing else.
func TestHTTPCallPathCannotChangeDestination(t *testing.T) {
	uris := make(chan string, 4)
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		uris <- r.RequestURI
		w.WriteHeader(204)
	})
	d := &recordingDialer{}
	f, _, _ := callPlugin(t, &egress.Config{Allow: []string{"127.0.0.1/32:" + strconv.Itoa(srv.port())}, Dialer: d},
		map[string]string{"named": srv.addr()}, 0)
	for _, up := range []string{"named", srv.addr()} {
		x := call(t, f, "x-call-upstream", up, "x-call-path", "//169.254.169.254/latest/meta-data?x=1")
		if got := hdr(&x.Req.Header, "x-call-status"); got != "204" {
			t.Fatalf("%s: x-call-status = %q (error %q)", up, got, hdr(&x.Req.Header, "x-call-error"))
		}
		if got := <-uris; got != "//169.254.169.254/latest/meta-data?x=1" {
			t.Fatalf("%s: upstream saw %q", up, got)
		}
		for _, bad := range []string{"@169.254.169.254/latest", "http://169.254.169.254/latest", "latest"} {
			if got := hdr(&call(t, f, "x-call-upstream", up, "x-call-path", bad).Req.Header, "x-call-error"); got != "2" {
				t.Fatalf("%s with :path %q: x-call-error = %q, want 2", up, bad, got)
			}
		}
	}
	if got := strings.Join(d.dialed(), ","); got != srv.addr() {
		t.Fatalf("policy dialer dialled %q, want only %s", got, srv.addr())
	}
	if n := srv.conns.Load(); n != 2 {
		t.Fatalf("%d connections to the upstream, want 2 (one per transport)", n)
	}
}
