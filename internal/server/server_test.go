package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
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

// start runs a gateway in front of an upstream that counts body bytes.
func start(t *testing.T, cfg server.Config) (plain, secure string) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		w.Write([]byte(strconv.FormatInt(n, 10))) //nolint:errcheck
	}))
	t.Cleanup(up.Close)
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(up.URL, "http://"))
	pn, _ := strconv.Atoi(port)
	u, err := proxy.NewUpstream(&config.Upstream{Nodes: []config.Node{{Host: host, Port: pn, Weight: 1}}, Retries: -1}, proxy.UpstreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := proxy.New(proxy.Options{})
	route := &proxy.Route{ID: "r", Upstream: u}
	p.SetRoutes(proxy.NewTable(func(_, _, _ []byte) *proxy.Route { return route }))
	cfg.TLSConfig = &tls.Config{Certificates: []tls.Certificate{tlstest.SelfSigned(t)}}
	srv := server.New(cfg, p)
	l1, _ := net.Listen("tcp", "127.0.0.1:0")
	l2, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(l1)    //nolint:errcheck
	go srv.ServeTLS(l2) //nolint:errcheck
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck
		u.Close()
	})
	return l1.Addr().String(), l2.Addr().String()
}

type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > z.n {
		p = p[:z.n]
	}
	clear(p)
	z.n -= int64(len(p))
	return len(p), nil
}

func TestLimits(t *testing.T) {
	plain, secure := start(t, server.Config{MaxHeaderSize: 8 << 10, MaxRequestBodySize: 1 << 20})
	h1 := &http.Client{Transport: &http.Transport{}}
	h2 := &http.Client{Transport: &http2.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec
	clients := []struct {
		name string
		c    *http.Client
		url  string
	}{{"h1", h1, "http://" + plain}, {"h2", h2, "https://" + secure}}
	for _, cl := range clients {
		t.Run(cl.name, func(t *testing.T) {
			tests := []struct {
				name    string
				size    int64
				chunked bool
				header  int
				want    int
			}{
				{name: "body within limit", size: 1 << 20, want: 200},
				{name: "content-length over limit", size: 2 << 20, want: 413},
				{name: "chunked within limit", size: 1 << 20, chunked: true, want: 200},
				{name: "chunked over limit", size: 4 << 20, chunked: true, want: 413},
				{name: "headers over limit", header: 16 << 10, want: 431},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					var body io.Reader
					if tt.size > 0 {
						body = io.NopCloser(&zeros{n: tt.size})
					}
					req, _ := http.NewRequest("POST", cl.url+"/", body)
					if tt.size > 0 && !tt.chunked {
						req.ContentLength = tt.size
					}
					if tt.header > 0 {
						req.Header.Set("X-Big", strings.Repeat("b", tt.header))
					}
					resp, err := cl.c.Do(req)
					if err != nil && tt.want == 431 && cl.name == "h2" && strings.Contains(err.Error(), "advertised limit") {
						// HTTP/2 advertises the limit in SETTINGS; a
						// conforming client does not even send the request.
						return
					}
					if err != nil {
						t.Fatalf("client error instead of %d: %v", tt.want, err)
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != tt.want {
						t.Errorf("status %d (%q), want %d", resp.StatusCode, b, tt.want)
					}
					if tt.want == 200 && string(b) != strconv.FormatInt(tt.size, 10) {
						t.Errorf("upstream got %q bytes, want %d", b, tt.size)
					}
				})
			}
		})
	}
}

// TestHeaderTooLargeRaw checks on the wire that a client still sending a
// huge header block reads the 431 instead of a connection reset.
func TestHeaderTooLargeRaw(t *testing.T) {
	plain, _ := start(t, server.Config{MaxHeaderSize: 4 << 10})
	c, err := net.Dial("tcp", plain)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		w := bufio.NewWriter(c)
		w.WriteString("GET / HTTP/1.1\r\nHost: x\r\n") //nolint:errcheck
		for i := range 2000 {
			w.WriteString("X-Filler-" + strconv.Itoa(i) + ": " + strings.Repeat("f", 100) + "\r\n") //nolint:errcheck
		}
		w.WriteString("\r\n") //nolint:errcheck
		w.Flush()             //nolint:errcheck
	}()
	c.SetReadDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	if resp.StatusCode != 431 {
		t.Errorf("status %d, want 431", resp.StatusCode)
	}
}

// TestKeepAliveTimeouts: the idle and read timeouts still end keep-alive
// connections in time although the deadlines are re-armed lazily.
func TestKeepAliveTimeouts(t *testing.T) {
	const idle, read = 400 * time.Millisecond, 300 * time.Millisecond
	plain, _ := start(t, server.Config{IdleTimeout: idle, ReadTimeout: read})
	c, err := net.Dial("tcp", plain)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	get := func() {
		t.Helper()
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		resp.Body.Close()
	}
	// Requests spread over more than the timeouts keep the connection.
	for range 8 {
		time.Sleep(read / 4)
		get()
	}
	// Idle: closed after about idle (never later; at most idle/32 earlier
	// by the lazy re-arming, plus scheduling).
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	if d := time.Since(start); d < idle-idle/32-20*time.Millisecond || d > idle+time.Second {
		t.Fatalf("idle connection closed after %v, want about %v", d, idle)
	}
	// Read: a request head that stops half way gets 408 after about read.
	c2, err := net.Dial("tcp", plain)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	br2 := bufio.NewReader(c2)
	c2.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")) //nolint:errcheck
	resp, err := http.ReadResponse(br2, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck
	resp.Body.Close()
	start = time.Now()
	c2.Write([]byte("GET / HTTP/1.1\r\nHo"))            //nolint:errcheck
	c2.SetReadDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
	resp, err = http.ReadResponse(br2, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d, want 408", resp.StatusCode)
	}
	if d := time.Since(start); d < read-read/32-20*time.Millisecond || d > read+time.Second {
		t.Fatalf("408 after %v, want about %v", d, read)
	}
}
