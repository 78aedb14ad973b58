package server_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
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

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/httpcore"
	"github.com/heimdallgw/heimdall/internal/proxy"
	"github.com/heimdallgw/heimdall/internal/server"
	"github.com/heimdallgw/heimdall/internal/testutil/fuzzseed"
)

// realRequests are request heads (and bodies) as clients send them, plus
// the malformed and smuggling-shaped ones a gateway must stand.
var realRequests = map[string]string{
	"curl-get": "GET /httpbin/get HTTP/1.1\r\nHost: localhost:9080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
	"browser-get": "GET /httpbin/get?show_env=1 HTTP/1.1\r\nHost: localhost:9080\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
		"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n" +
		"Connection: keep-alive\r\nCookie: session=8c2f1b; theme=dark\r\nUpgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\nPriority: u=0, i\r\n\r\n",
	"post-json":    "POST /anything/orders HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/json\r\nContent-Length: 15\r\nAuthorization: Bearer abc.def\r\n\r\n{\"item\":\"book\"}",
	"chunked":      "POST /post HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-checksum: 42\r\n\r\n",
	"pipelined":    "GET /a HTTP/1.1\r\nHost: h\r\n\r\nHEAD /b HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
	"http10":       "GET /a HTTP/1.0\r\n\r\n",
	"absolute":     "GET http://h.example/a?q=1 HTTP/1.1\r\nHost: other\r\n\r\n",
	"expect":       "PUT /put HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
	"options":      "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
	"connect":      "CONNECT h.example:443 HTTP/1.1\r\nHost: h.example:443\r\n\r\n",
	"cl-te":        "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
	"te-cl":        "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
	"two-cl":       "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
	"obs-fold":     "GET /a HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\n\r\n",
	"space-colon":  "GET /a HTTP/1.1\r\nHost: h\r\nX-Bad : v\r\n\r\n",
	"bare-lf":      "GET /a HTTP/1.1\nHost: h\nX-A: 1\n\n",
	"nul-value":    "GET /a HTTP/1.1\r\nHost: h\r\nX-Nul: a\x00b\r\n\r\n",
	"bad-chunk":    "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
	"te-gzip":      "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
	"long-uri":     "GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: h\r\n\r\n",
	"many-headers": "GET /a HTTP/1.1\r\nHost: h\r\n" + strings.Repeat("X-H: v\r\n", 200) + "\r\n",
	"hop-by-hop":   "GET /a HTTP/1.1\r\nHost: h\r\nConnection: x-secret, keep-alive\r\nX-Secret: 1\r\nTE: trailers\r\nUpgrade: websocket\r\n\r\n",
}

func TestFuzzSeeds(t *testing.T) {
	var seeds []fuzzseed.Seed
	for name, req := range realRequests {
		seeds = append(seeds, fuzzseed.New(name, []byte(req)))
	}
	fuzzseed.Sync(t, "FuzzRequestHead", seeds)
}

// seen is what the gateway's HTTP/1.1 engine handed the proxy for one
// request (a copy of the httpcore request).
type seen struct {
	method, path, authority, scheme []byte
	proto                           string
	contentLength                   int64
	fields                          []httpcore.Field
}

// recorder is the real proxy, recording each converted request first.
type recorder struct {
	p      *proxy.Proxy
	mu     sync.Mutex
	seen   []seen
	served atomic.Int64
}

func (r *recorder) NewStream() *proxy.Stream { return r.p.NewStream() }

func (r *recorder) Serve(ctx context.Context, s *proxy.Stream) {
	q := &s.X.Req
	v := seen{method: bytes.Clone(q.Method), path: bytes.Clone(q.Path), authority: bytes.Clone(q.Authority),
		scheme: bytes.Clone(q.Scheme), proto: q.Proto, contentLength: q.ContentLength}
	for _, f := range q.Header.Fields() {
		v.fields = append(v.fields, httpcore.Field{Name: bytes.Clone(f.Name), Value: bytes.Clone(f.Value)})
	}
	r.mu.Lock()
	r.seen = append(r.seen, v)
	r.mu.Unlock()
	r.served.Add(1)
	r.p.Serve(ctx, s)
}

func (r *recorder) take() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.seen
	r.seen = nil
	return out
}

// fuzzGateway runs the HTTP/1.1 server with the real proxy in front of an
// upstream that counts the requests it gets.
func fuzzGateway(tb testing.TB) (addr string, rec *recorder, upstreamHits *atomic.Int64) {
	upstreamHits = new(atomic.Int64)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamHits.Add(1)
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Got", r.Method+" "+r.RequestURI)
		w.Write([]byte(strconv.FormatInt(n, 10))) //nolint:errcheck
	}))
	tb.Cleanup(up.Close)
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(up.URL, "http://"))
	pn, _ := strconv.Atoi(port)
	u, err := proxy.NewUpstream(&config.Upstream{Nodes: []config.Node{{Host: host, Port: pn, Weight: 1}}, Retries: -1,
		Timeout: config.Timeout{Connect: 2 * time.Second, Send: 2 * time.Second, Read: 2 * time.Second}}, proxy.UpstreamOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	p := proxy.New(proxy.Options{})
	route := &proxy.Route{ID: "r", Upstream: u}
	p.SetRoutes(proxy.NewTable(func(_, _, _ []byte) *proxy.Route { return route }))
	rec = &recorder{p: p}
	srv := server.New(server.Config{MaxHeaderSize: 8 << 10, MaxRequestBodySize: 1 << 20, ReadTimeout: 5 * time.Second}, rec)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve(l) //nolint:errcheck
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck
		u.Close()
	})
	return l.Addr().String(), rec, upstreamHits
}

func validToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

func hasCTL(b []byte) bool {
	for _, c := range b {
		if c == '\r' || c == '\n' || c == 0 {
			return true
		}
	}
	return false
}

// FuzzRequestHead sends arbitrary bytes to the gateway's HTTP/1.1 listener
// (then half-closes): the gateway answers with well-formed responses and
// closes; every request it hands the proxy has a token method, a target
// and header fields free of CR, LF and NUL (nothing a forwarded head could
// be split with), a known protocol and a sane length; and the upstream
// never gets more requests than the gateway accepted (no smuggling).
func FuzzRequestHead(f *testing.F) {
	addr, rec, upstreamHits := fuzzGateway(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second)) //nolint:errcheck
		if _, err := c.Write(raw); err != nil {
			return // the gateway closed early on a bad head: fine
		}
		c.(*net.TCPConn).CloseWrite() //nolint:errcheck
		out, err := io.ReadAll(c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("no answer and close within 20s of a half-closed request %q", raw)
		}
		got := rec.take()
		for _, s := range got {
			if !validToken(s.method) {
				t.Errorf("method %q is not a token", s.method)
			}
			if len(s.path) == 0 || hasCTL(s.path) || bytes.IndexByte(s.path, ' ') >= 0 {
				t.Errorf("request target %q is empty or holds CR, LF, NUL or a space", s.path)
			}
			if hasCTL(s.authority) {
				t.Errorf("authority %q holds CR, LF or NUL", s.authority)
			}
			if s.proto != "HTTP/1.1" && s.proto != "HTTP/1.0" {
				t.Errorf("protocol %q", s.proto)
			}
			if string(s.scheme) != "http" {
				t.Errorf("scheme %q on a plain listener", s.scheme)
			}
			if s.contentLength < -1 {
				t.Errorf("content length %d", s.contentLength)
			}
			for _, fl := range s.fields {
				if !validToken(fl.Name) || hasCTL(fl.Value) {
					t.Errorf("header field %q: %q is not a token name with a CR/LF/NUL-free value", fl.Name, fl.Value)
				}
			}
		}
		if up, served := upstreamHits.Load(), rec.served.Load(); up > served {
			t.Fatalf("the upstream got %d requests, the gateway accepted %d: %q smuggled one", up, served, raw)
		}
		if len(out) == 0 {
			if len(got) > 0 {
				t.Fatalf("%d requests accepted, no response", len(got))
			}
			return
		}
		method := "GET"
		if len(got) > 0 {
			method = string(got[0].method)
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), &http.Request{Method: method})
		if err != nil {
			t.Fatalf("response to %q is not HTTP: %v\n%q", raw, err, out)
		}
		resp.Body.Close()
		if resp.StatusCode < 100 || resp.StatusCode > 599 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if len(got) == 0 && resp.StatusCode < 400 && resp.StatusCode != 100 {
			t.Fatalf("status %d for a request the gateway did not accept: %q", resp.StatusCode, raw)
		}
	})
}
