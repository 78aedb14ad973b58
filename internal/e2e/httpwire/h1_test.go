package httpwire

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func headers(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "X-H%d: v\r\n", i)
	}
	return b.String()
}

// Each request is written raw; the test checks the status the client got
// and what reached the upstream (nothing, for a refused request: the
// upstream's raw bytes do not grow and it parsed no request).
func TestRequestFraming(t *testing.T) {
	up := newRecorder(t, 0)
	g := startGateway(t, "", oneRoute, up)
	tests := []struct {
		name string
		raw  string
		want int
		// upstream: substrings of the bytes the upstream must receive; nil
		// means it must receive nothing.
		upstream []string
	}{
		{"plain GET", "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n", 200, []string{"GET /ok HTTP/1.1\r\n", "Host: x\r\n"}},
		{"HTTP/1.0 without Host gets the node's host", "GET /ten HTTP/1.0\r\n\r\n", 200,
			[]string{"GET /ten HTTP/1.1\r\n", "Host: " + up.addr() + "\r\n"}},
		{"absolute-form: its path routes, its authority is the host", "GET http://h.example/abs?q=1 HTTP/1.1\r\nHost: other\r\n\r\n", 200,
			[]string{"GET /abs?q=1 HTTP/1.1\r\n", "Host: h.example\r\n"}},
		{"absolute-form without a path", "GET http://h.example HTTP/1.1\r\nHost: h.example\r\n\r\n", 200,
			[]string{"GET / HTTP/1.1\r\n", "Host: h.example\r\n"}},
		{"CONNECT", "CONNECT h.example:443 HTTP/1.1\r\nHost: h.example:443\r\n\r\n", 405, nil},
		{"Content-Length and Transfer-Encoding", "POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, nil},
		{"Transfer-Encoding and Content-Length", "POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400, nil},
		{"two Content-Length", "POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400, nil},
		{"two equal Content-Length", "POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400, nil},
		{"Content-Length list", "POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello", 400, nil},
		{"Transfer-Encoding identity", "POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", 501, nil},
		{"Transfer-Encoding gzip, chunked", "POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, nil},
		{"Transfer-Encoding chunked, gzip", "POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 501, nil},
		{"two Transfer-Encoding", "POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501, nil},
		{"Transfer-Encoding in HTTP/1.0", "POST /s HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, nil},
		{"chunked is forwarded chunked", "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 200,
			[]string{"POST /c HTTP/1.1\r\n", "hello"}},
		{"obs-fold", "GET /f HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n", 400, nil},
		{"obs-fold with a tab", "GET /f HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\tfolded\r\n\r\n", 400, nil},
		{"space before the first header", "GET /f HTTP/1.1\r\n Host: x\r\n\r\n", 400, nil},
		{"whitespace before the colon", "GET /w HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n", 400, nil},
		{"bare LF", "GET /lf HTTP/1.1\nHost: x\n\n", 400, nil},
		{"bare LF after a CRLF line", "GET /lf HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n", 400, nil},
		{"100 header fields", "GET /n HTTP/1.1\r\nHost: x\r\n" + headers(99) + "\r\n", 200, []string{"X-H98: v"}},
		{"101 header fields", "GET /n HTTP/1.1\r\nHost: x\r\n" + headers(100) + "\r\n", 431, nil},
		{"oversized header", "GET /big HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 40<<10) + "\r\n\r\n", 431, nil},
		{"oversized URI", "GET /" + strings.Repeat("a", 100<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, nil},
		{"no Host in HTTP/1.1", "GET /nh HTTP/1.1\r\n\r\n", 400, nil},
		{"two Host", "GET /h HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, nil},
		{"control byte in the target", "GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, nreq := len(up.bytes()), len(up.requests())
			a := g.exchange(t, tt.raw, 300*time.Millisecond)
			if a.Status != tt.want {
				t.Fatalf("status %d, want %d; answer %.200q", a.Status, tt.want, a.Raw)
			}
			got := up.bytes()[before:]
			if tt.upstream == nil {
				if got != "" || len(up.requests()) != nreq {
					t.Fatalf("the upstream received %q", got)
				}
				if !a.Closed {
					t.Errorf("connection left open after a refused request")
				}
				return
			}
			for _, s := range tt.upstream {
				if !strings.Contains(got, s) {
					t.Errorf("upstream bytes lack %q:\n%s", s, got)
				}
			}
		})
	}
}

// A second request hidden where two parsers could frame a body
// differently never reaches the upstream as a request.
func TestNoSmuggling(t *testing.T) {
	up := newRecorder(t, 0)
	g := startGateway(t, "", oneRoute, up)
	const hidden = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	attacks := []string{
		// CL.TE and TE.CL: refused outright.
		"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + hidden,
		fmt.Sprintf("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(hidden), hidden),
		// TE obfuscations.
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\nContent-Length: 4\r\n\r\n" + hidden,
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" + hidden,
		// Invalid chunk sizes.
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n" + hidden,
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n" + hidden,
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n" + hidden,
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" + hidden,
		// A body that holds a request is a body.
		fmt.Sprintf("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(hidden), hidden),
		fmt.Sprintf("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(hidden), hidden),
	}
	for i, raw := range attacks {
		a := g.exchange(t, raw, 300*time.Millisecond)
		if a.Status == 0 {
			t.Errorf("attack %d: no answer", i)
		}
		if strings.Count(a.Raw, "HTTP/1.1 ") > 1 {
			// A refused request must end the connection; the hidden one is
			// then never served (by the gateway nor the upstream).
			if strings.Contains(a.Raw, "GET /smuggled") {
				t.Errorf("attack %d: the gateway served the hidden request:\n%s", i, a.Raw)
			}
		}
	}
	for _, r := range up.requests() {
		if r.URI == "/smuggled" {
			t.Fatalf("the upstream parsed the hidden request: %+v", r)
		}
	}
}

// A refused request is logged as a summary: no header value, no query, no
// cookie — fasthttp's own message carried the raw bytes.
func TestMalformedRequestLogRedacted(t *testing.T) {
	up := newRecorder(t, 0)
	g := startGateway(t, "", oneRoute, up)
	raws := []string{
		"GET /p?token=qsecret HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer hsecret\r\nCookie: s=csecret\r\nBad Header\r\n\r\n",
		"GET /p?token=qsecret HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer hsecret\x01\r\n\r\n",
		"GET /p?token=qsecret HTTP/1.1\r\nHost: x\r\nCookie: s=csecret\r\n folded\r\n\r\n",
	}
	for _, raw := range raws {
		if a := g.exchange(t, raw, 300*time.Millisecond); a.Status != 400 {
			t.Fatalf("status %d, want 400 for %q", a.Status, raw)
		}
	}
	logs := g.logs.String()
	for _, secret := range []string{"qsecret", "hsecret", "csecret", "Bearer"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log holds %q:\n%s", secret, logs)
		}
	}
	if n := strings.Count(logs, `"msg":"malformed request refused"`); n != len(raws) {
		t.Errorf("%d summaries logged, want %d:\n%s", n, len(raws), logs)
	}
	if !strings.Contains(logs, `"target":"/p"`) || !strings.Contains(logs, `"method":"GET"`) {
		t.Errorf("summary lacks method and target:\n%s", logs)
	}
}

// The head checks look at heads only: bodies full of bare LFs and leading
// spaces pass (also after "100 Continue"), and on a keep-alive connection
// the next head is checked again.
func TestHeadChecksSkipBodies(t *testing.T) {
	up := newRecorder(t, 0)
	g := startGateway(t, "", oneRoute, up)
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	read := func() int {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		resp.Body.Close()
		return resp.StatusCode
	}
	const body = "a\nb\n\n c\n\tfold\n"
	fmt.Fprintf(c, "POST /b1 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	if st := read(); st != 200 {
		t.Fatalf("body with bare LFs: %d", st)
	}
	fmt.Fprintf(c, "POST /b2 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", len(body))
	if st := read(); st != 100 {
		t.Fatalf("Expect: %d, want 100", st)
	}
	io.WriteString(c, body) //nolint:errcheck
	if st := read(); st != 200 {
		t.Fatalf("body after 100 Continue: %d", st)
	}
	fmt.Fprintf(c, "POST /b3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(body), body)
	if st := read(); st != 200 {
		t.Fatalf("chunked body with bare LFs: %d", st)
	}
	io.WriteString(c, "GET /b4 HTTP/1.1\nHost: x\n\n") //nolint:errcheck
	if st := read(); st != 400 {
		t.Fatalf("bare-LF head after three requests: %d, want 400", st)
	}
	n := 0
	for _, r := range up.requests() {
		if r.Body == body {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("upstream got %d of the 3 bodies intact", n)
	}
}
