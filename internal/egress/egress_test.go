package egress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/heimdallgw/heimdall/internal/testutil/logbuf"
)

// scripted answers the i-th lookup with answers[i] (the last repeats). A real
// DNS server cannot be configured per test, so rebinding is played by this
// fake; the policy, the dialer and the listener are real.
type scripted struct {
	mu      sync.Mutex
	answers [][]netip.Addr
	lookups int
}

func (r *scripted) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := min(r.lookups, len(r.answers)-1)
	r.lookups++
	return r.answers[i], nil
}

// recorder records the addresses it is asked to dial and dials loopback
// ones for real (never anything else).
type recorder struct {
	mu    sync.Mutex
	addrs []string
}

func (d *recorder) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	d.mu.Unlock()
	if ap, err := netip.ParseAddrPort(addr); err != nil || !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("test dialer: not dialling %s", addr)
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

func listen(t *testing.T) (net.Listener, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln, ln.Addr().(*net.TCPAddr).Port
}

// TestDialRebinding: Dial resolves once, checks every address and dials
// only the allowed ones: an answer that turns into the metadata address is
// refused without a dial; a mixed answer dials only its allowed address.
func TestDialRebinding(t *testing.T) {
	_, port := listen(t)
	loop, meta := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("169.254.169.254")
	res := &scripted{answers: [][]netip.Addr{{loop}, {meta}, {meta, loop}}}
	d := &recorder{}
	lb := &logbuf.Buffer{}
	c, err := New(Config{Plugin: "p", Allow: []string{"rebind.test", "127.0.0.1/32:" + strconv.Itoa(port)}, DNS: true,
		Resolver: res, Dialer: d, Local: []netip.Addr{}, Logger: slog.New(slog.NewTextHandler(lb, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dest := "rebind.test:" + strconv.Itoa(port)
	want := "127.0.0.1:" + strconv.Itoa(port)
	for i, wantOK := range []bool{true, false, true} {
		conn, err := c.Dial(ctx, OpRedisCall, "tcp", dest)
		if wantOK != (err == nil) {
			t.Fatalf("dial %d: %v", i, err)
		}
		if err == nil {
			if got := conn.RemoteAddr().String(); got != want {
				t.Fatalf("dial %d connected to %s", i, got)
			}
			conn.Close()
		} else if !errors.Is(err, ErrRefused) {
			t.Fatalf("dial %d: %v, want a refusal", i, err)
		}
	}
	if got := strings.Join(d.addrs, ","); got != want+","+want {
		t.Fatalf("dialled %s, want %s twice", got, want)
	}
	if res.lookups != 3 {
		t.Fatalf("%d lookups for 3 dials", res.lookups)
	}
	if !strings.Contains(lb.String(), `destination="rebind.test:`+strconv.Itoa(port)+` (169.254.169.254)" reason="link-local address not explicitly allowed"`) {
		t.Fatalf("log: %s", lb)
	}
}

// TestPrecheckNoIO: without a policy every literal destination is refused
// by Precheck (no lookup, no dial), named upstreams are allowed, and a list
// of upstreams narrows them.
func TestPrecheckNoIO(t *testing.T) {
	res, d := &scripted{answers: [][]netip.Addr{{netip.MustParseAddr("127.0.0.1")}}}, &recorder{}
	c, err := New(Config{Plugin: "p", Resolver: res, Dialer: d})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"169.254.169.254", "127.0.0.1", "::1", "localhost", "0.0.0.0", "224.0.0.1"} {
		if err := c.Precheck(OpHTTPCall, h, 80); !errors.Is(err, ErrRefused) {
			t.Errorf("Precheck(%s) = %v, want a refusal", h, err)
		}
		if _, err := c.Dial(context.Background(), OpHTTPCall, "tcp", net.JoinHostPort(h, "80")); !errors.Is(err, ErrRefused) {
			t.Errorf("Dial(%s) = %v, want a refusal", h, err)
		}
	}
	if res.lookups != 0 || len(d.addrs) != 0 {
		t.Fatalf("%d lookups, dialled %v", res.lookups, d.addrs)
	}
	if err := c.Upstream(OpHTTPCall, "anything"); err != nil {
		t.Errorf("named upstream refused without a list: %v", err)
	}
	n, _ := New(Config{Upstreams: []string{"auth"}})
	if n.Upstream(OpHTTPCall, "auth") != nil || !errors.Is(n.Upstream(OpHTTPCall, "billing"), ErrRefused) {
		t.Error("upstreams list not applied")
	}
	none, _ := New(Config{Upstreams: []string{}})
	if !errors.Is(none.Upstream(OpHTTPCall, "auth"), ErrRefused) {
		t.Error("an empty upstreams list allows auth")
	}
}

// TestRefusalsLoggedOnceAndBounded: the same refusal N times is one log
// line and N in the counts; past maxLogged distinct destinations refusals
// are counted only, with one line saying so.
func TestRefusalsLoggedOnceAndBounded(t *testing.T) {
	lb := &logbuf.Buffer{}
	c, _ := New(Config{Plugin: "p", Logger: slog.New(slog.NewTextHandler(lb, nil))})
	for i := 0; i < 50; i++ {
		_ = c.Precheck(OpHTTPCall, "169.254.169.254", 80)
	}
	if n := strings.Count(lb.String(), "plugin network access refused"); n != 1 {
		t.Fatalf("%d lines for 50 refusals", n)
	}
	for i := 0; i < maxLogged+100; i++ {
		_ = c.Precheck(OpRedisInit, "10.0.0.1", 1+i)
	}
	got := c.Refusals()
	if got[OpHTTPCall] != 50 || got[OpRedisInit] != maxLogged+100 {
		t.Fatalf("counts %v", got)
	}
	if n := strings.Count(lb.String(), "msg=\"plugin network access refused\""); n != maxLogged {
		t.Fatalf("%d refusal lines, want %d (the set holds the first one too)", n, maxLogged)
	}
	if n := strings.Count(lb.String(), "further ones are counted, not logged"); n != 1 {
		t.Fatalf("%d suppression notices", n)
	}
	c.refusals.mu.Lock()
	size := len(c.refusals.logged)
	c.refusals.mu.Unlock()
	if size > maxLogged {
		t.Fatalf("dedupe set grew to %d", size)
	}
}
