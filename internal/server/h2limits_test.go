package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/proxy"
	"github.com/heimdallgw/heimdall/internal/server"
	"github.com/heimdallgw/heimdall/internal/testutil/tlstest"
)

// slowUpstream answers after a delay and records how many requests it held
// at once and in all.
type slowUpstream struct {
	delay          time.Duration
	cur, max, seen atomic.Int64
}

func (u *slowUpstream) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	n := u.cur.Add(1)
	u.seen.Add(1)
	for {
		m := u.max.Load()
		if n <= m || u.max.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(u.delay)
	u.cur.Add(-1)
	io.WriteString(w, "ok") //nolint:errcheck
}

// startH2 runs a gateway with a TLS listener in front of up.
func startH2(t *testing.T, cfg server.Config, up http.Handler) string {
	t.Helper()
	us := httptest.NewServer(up)
	t.Cleanup(us.Close)
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(us.URL, "http://"))
	pn, _ := strconv.Atoi(port)
	u, err := proxy.NewUpstream(&config.Upstream{Nodes: []config.Node{{Host: host, Port: pn, Weight: 1}}}, proxy.UpstreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := proxy.New(proxy.Options{})
	route := &proxy.Route{ID: "r", Upstream: u}
	p.SetRoutes(proxy.NewTable(func(_, _, _ []byte) *proxy.Route { return route }))
	cfg.TLSConfig = &tls.Config{Certificates: []tls.Certificate{tlstest.SelfSigned(t)}}
	srv := server.New(cfg, p)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeTLS(l) //nolint:errcheck
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck
		u.Close()
	})
	return l.Addr().String()
}

// h2conn is a raw HTTP/2 client connection: frames written and read with
// x/net/http2's Framer, nothing else in between.
type h2conn struct {
	c  *tls.Conn
	fr *http2.Framer
	mu sync.Mutex // serialises writes
}

func dialH2(t *testing.T, addr string) *h2conn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}) //nolint:gosec
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if c.ConnectionState().NegotiatedProtocol != "h2" {
		t.Fatal("h2 not negotiated")
	}
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	h := &h2conn{c: c, fr: http2.NewFramer(c, c)}
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := h.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return h
}

func headerBlock(path string, extra ...hpack.HeaderField) []byte {
	var b bytes.Buffer
	e := hpack.NewEncoder(&b)
	for _, f := range []hpack.HeaderField{
		{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "https"},
		{Name: ":authority", Value: "x"}, {Name: ":path", Value: path},
	} {
		e.WriteField(f) //nolint:errcheck
	}
	for _, f := range extra {
		e.WriteField(f) //nolint:errcheck
	}
	return b.Bytes()
}

// serverSettings reads frames until the server's first SETTINGS.
func (h *h2conn) serverSettings(t *testing.T) *http2.SettingsFrame {
	t.Helper()
	_ = h.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			return sf
		}
	}
}

// untilGoAway reads frames until GOAWAY (returned) or the connection ends
// (nil).
func (h *h2conn) untilGoAway(d time.Duration) *http2.GoAwayFrame {
	_ = h.c.SetReadDeadline(time.Now().Add(d))
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			return nil
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			return ga
		}
	}
}

func getOK(t *testing.T, addr string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http2.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec
	resp, err := c.Get("https://" + addr + "/after")
	if err != nil {
		t.Fatalf("another client afterwards: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("another client afterwards: %d", resp.StatusCode)
	}
}

// The configured stream limit is advertised, and streams beyond it do not
// reach the upstream at once.
func TestH2MaxConcurrentStreams(t *testing.T) {
	up := &slowUpstream{delay: 300 * time.Millisecond}
	addr := startH2(t, server.Config{MaxConcurrentStreams: 4}, up)
	h := dialH2(t, addr)
	sf := h.serverSettings(t)
	if v, ok := sf.Value(http2.SettingMaxConcurrentStreams); !ok || v != 4 {
		t.Fatalf("SETTINGS_MAX_CONCURRENT_STREAMS %d (sent %v), want 4", v, ok)
	}
	if d, _ := sf.Value(http2.SettingMaxHeaderListSize); d == 0 {
		t.Error("no SETTINGS_MAX_HEADER_LIST_SIZE advertised")
	}
	getOK(t, addr)
}

// Rapid reset (CVE-2023-44487): streams opened and reset at once free their
// protocol slot immediately, but their handlers (here: requests held by a
// slow upstream) do not stop at once. x/net/http2 (v0.17+) counts running
// handlers against the stream limit, queues the streams beyond it and ends
// a connection that queues more than 4× the limit with GOAWAY
// ENHANCE_YOUR_CALM. The upstream never holds more requests than the limit.
func TestH2RapidReset(t *testing.T) {
	up := &slowUpstream{delay: 500 * time.Millisecond}
	addr := startH2(t, server.Config{MaxConcurrentStreams: 4}, up)
	h := dialH2(t, addr)
	block := headerBlock("/reset")
	go func() {
		for id := uint32(1); id < 2000; id += 2 {
			h.mu.Lock()
			err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true})
			if err == nil {
				err = h.fr.WriteRSTStream(id, http2.ErrCodeCancel)
			}
			h.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	ga := h.untilGoAway(10 * time.Second)
	if ga == nil {
		t.Fatal("connection ended without GOAWAY")
	}
	t.Logf("upstream saw %d requests, at most %d at once", up.seen.Load(), up.max.Load())
	if ga.ErrCode != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("GOAWAY %v, want ENHANCE_YOUR_CALM", ga.ErrCode)
	}
	if m := up.max.Load(); m > 4 {
		t.Errorf("upstream held %d requests at once, over the stream limit 4", m)
	}
	if n := up.seen.Load(); n > 4*5 {
		t.Errorf("upstream saw %d of the reset requests, want at most 20 (limit + queue)", n)
	}
	getOK(t, addr)
}

// CONTINUATION flood (CVE-2024-27316 class): a header block that never
// ends is not buffered without bound; once it passes the header list limit
// x/net/http2 (v0.23+) stops decoding and ends the connection.
func TestH2ContinuationFlood(t *testing.T) {
	up := &slowUpstream{}
	addr := startH2(t, server.Config{MaxHeaderSize: 16 << 10}, up)
	h := dialH2(t, addr)
	var frag bytes.Buffer
	e := hpack.NewEncoder(&frag)
	for frag.Len() < 15<<10 {
		e.WriteField(hpack.HeaderField{Name: "x-flood", Value: strings.Repeat("f", 1000)}) //nolint:errcheck
	}
	var sent atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.mu.Lock()
		defer h.mu.Unlock()
		if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: headerBlock("/flood"), EndHeaders: false}); err != nil {
			return
		}
		for sent.Load() < 32<<20 {
			if err := h.fr.WriteContinuation(1, false, frag.Bytes()); err != nil {
				return
			}
			sent.Add(int64(frag.Len()))
		}
	}()
	ga := h.untilGoAway(20 * time.Second)
	h.c.Close()
	<-done
	if ga != nil && ga.ErrCode != http2.ErrCodeProtocol {
		t.Fatalf("GOAWAY %v, want PROTOCOL_ERROR", ga.ErrCode)
	}
	if n := sent.Load(); n >= 32<<20 {
		t.Fatalf("the gateway took all %d bytes of CONTINUATION", n)
	}
	if up.seen.Load() != 0 {
		t.Error("the flooded request reached the upstream")
	}
	getOK(t, addr)
	t.Logf("sent %d KiB of CONTINUATION before the connection ended (GOAWAY %v)", sent.Load()>>10, ga != nil)
}

// HTTP/1.1 over TLS gets the same head checks as plain connections, and
// HTTP/2 on the same listener is not head-scanned (its frames hold bare
// LFs and leading spaces).
func TestTLSHeadChecks(t *testing.T) {
	addr := startH2(t, server.Config{}, &slowUpstream{})
	for _, tt := range []struct{ name, raw string }{
		{"bare LF", "GET / HTTP/1.1\nHost: x\n\n"},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n"},
		{"CL and TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
	} {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}) //nolint:gosec
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, tt.raw) //nolint:errcheck
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		c.Close()
		if !strings.HasPrefix(string(b), "HTTP/1.1 400 ") {
			t.Errorf("%s over TLS: %.60q, want 400", tt.name, b)
		}
	}
	// HTTP/2: several requests on one connection, bodies full of bare LFs.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http2.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec
	for i := range 3 {
		resp, err := c.Post("https://"+addr+"/h2", "text/plain", strings.NewReader("a\nb\n\n c\n\tfold\n"))
		if err != nil {
			t.Fatalf("h2 request %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("h2 request %d: %d", i, resp.StatusCode)
		}
	}
}

// CONNECT over HTTP/2 is refused with 405 as on HTTP/1.1.
func TestH2Connect(t *testing.T) {
	up := &slowUpstream{}
	addr := startH2(t, server.Config{}, up)
	h := dialH2(t, addr)
	var b bytes.Buffer
	e := hpack.NewEncoder(&b)
	e.WriteField(hpack.HeaderField{Name: ":method", Value: "CONNECT"})  //nolint:errcheck
	e.WriteField(hpack.HeaderField{Name: ":authority", Value: "x:443"}) //nolint:errcheck
	if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	_ = h.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if mh, ok := f.(*http2.MetaHeadersFrame); ok && mh.StreamID == 1 {
			if st := mh.PseudoValue("status"); st != "405" {
				t.Fatalf(":status %s, want 405", st)
			}
			break
		}
	}
	if up.seen.Load() != 0 {
		t.Error("CONNECT reached the upstream")
	}
}
