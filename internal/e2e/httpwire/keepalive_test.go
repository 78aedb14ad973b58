package httpwire

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// An upstream that closes idle keep-alive connections (as Node.js does after
// 5 s and gunicorn after 2 s; here after 150 ms) must not turn the next
// request on the pooled connection into a 502: the gateway finds the closed
// connection before reusing it.
func TestUpstreamIdleClose(t *testing.T) {
	up := newRecorder(t, 150*time.Millisecond)
	g := startGateway(t, "", oneRoute, up)
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer c.CloseIdleConnections()
	const rounds, parallel = 6, 4
	var failures atomic.Int64
	for round := range rounds {
		// Several at once, so the gateway pools several connections, all of
		// which the upstream then closes while they sit idle.
		var wg sync.WaitGroup
		for k := range parallel {
			wg.Add(1)
			go func() {
				defer wg.Done()
				i := round*parallel + k
				method := http.MethodGet
				var body io.Reader
				if i%2 == 1 {
					method, body = http.MethodPost, strings.NewReader("payload")
				}
				req, _ := http.NewRequest(method, "http://"+g.addr+fmt.Sprintf("/r%d", i), body)
				resp, err := c.Do(req)
				if err != nil {
					t.Errorf("request %d: %v", i, err)
					failures.Add(1)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(b) != fmt.Sprintf("%s /r%d", method, i) {
					t.Errorf("request %d (%s): %d %q", i, method, resp.StatusCode, b)
					failures.Add(1)
				}
			}()
		}
		wg.Wait()
		time.Sleep(300 * time.Millisecond) // past the upstream's idle timeout
	}
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed", n, rounds*parallel)
	}
	if n := len(up.requests()); n != rounds*parallel {
		t.Errorf("upstream saw %d requests, want %d (each exactly once)", n, rounds*parallel)
	}
}

// closer is an upstream that answers one request per connection and then
// closes it without saying Connection: close — the race an idle timeout
// creates when it fires just as the gateway reuses the connection.
type closer struct {
	ln   net.Listener
	mu   sync.Mutex
	seen []string // request lines, in order
}

func newCloser(t *testing.T) *closer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &closer{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go c.serve(conn)
		}
	}()
	return c
}

func (c *closer) serve(conn net.Conn) {
	defer conn.Close()
	req, err := http.ReadRequest(bufio.NewReader(conn))
	if err != nil {
		return
	}
	io.Copy(io.Discard, req.Body) //nolint:errcheck
	c.mu.Lock()
	c.seen = append(c.seen, req.Method+" "+req.RequestURI)
	c.mu.Unlock()
	io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") //nolint:errcheck
}

func (c *closer) requests() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seen...)
}

// A request that finds its pooled connection closed before any response
// byte arrived is retried once on a new connection when it is idempotent;
// a POST that was sent is not (the upstream may have acted on it): 502, and
// the upstream never sees it twice.
func TestUpstreamClosedPooledConnection(t *testing.T) {
	cl := newCloser(t)
	up := &recorder{ln: cl.ln}
	g := startGateway(t, "", oneRoute, up)
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	send := func(raw string) int {
		t.Helper()
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		resp.Body.Close()
		return resp.StatusCode
	}
	// Back to back, so the idle check (for connections idle 100 ms) does not
	// run: the closed connection is found by the request itself.
	for i := range 5 {
		if st := send(fmt.Sprintf("GET /g%d HTTP/1.1\r\nHost: x\r\n\r\n", i)); st != 200 {
			t.Fatalf("GET %d: %d, want 200 (retried on a new connection)", i, st)
		}
	}
	if st := send("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"); st != 200 {
		// The pooled connection the POST took may have been found closed
		// before it was written (then it went out on a new one).
		if st != 502 {
			t.Fatalf("POST: %d, want 502 or 200", st)
		}
	}
	got := cl.requests()
	want := []string{"GET /g0", "GET /g1", "GET /g2", "GET /g3", "GET /g4"}
	posts := 0
	for _, r := range got {
		if r == "POST /p" {
			posts++
		}
	}
	if posts > 1 {
		t.Errorf("upstream saw the POST %d times: %q", posts, got)
	}
	if strings.Join(got[:5], ",") != strings.Join(want, ",") {
		t.Errorf("upstream saw %q, want %q first", got, want)
	}
}
