package httpwire

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

const slowTimeouts = `  http:
    client_header_timeout: 1s
    client_body_timeout: 1s
`

// Many slowloris connections (a head trickling in a byte every 200 ms)
// neither starve a normal client nor stay open: each gets 408 once
// client_header_timeout passes.
func TestSlowloris(t *testing.T) {
	up := newRecorder(t, 0)
	g := startGateway(t, slowTimeouts, oneRoute, up)
	const n = 40
	var wg sync.WaitGroup
	answers := make([]answer, n)
	for i := range n {
		c, err := net.Dial("tcp", g.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n") //nolint:errcheck
			go func() {
				for range 100 { // 20 s at most; the gateway closes long before
					if _, err := io.WriteString(c, "X"); err != nil {
						return
					}
					time.Sleep(200 * time.Millisecond)
				}
			}()
			answers[i] = readAnswer(c, 15*time.Second)
		}()
	}
	time.Sleep(300 * time.Millisecond) // all slowloris connections are open
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range 5 {
		resp, err := client.Get(fmt.Sprintf("http://%s/normal%d", g.addr, i))
		if err != nil {
			t.Fatalf("normal client beside slowloris: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("normal client: %d", resp.StatusCode)
		}
	}
	wg.Wait()
	for i, a := range answers {
		if a.Status != http.StatusRequestTimeout || !a.Closed {
			t.Fatalf("slowloris %d: status %d closed %v, want 408 and closed", i, a.Status, a.Closed)
		}
	}
	for _, r := range up.requests() {
		if r.URI == "/slow" {
			t.Fatal("a slowloris head reached the upstream")
		}
	}
}

// client_body_timeout bounds each wait for body bytes, not the whole body:
// a stalled body gets 408, an upload that keeps moving for longer than the
// timeout completes.
func TestSlowBody(t *testing.T) {
	up := newRecorder(t, 0)
	g := startGateway(t, slowTimeouts, oneRoute, up)

	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /stall HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc") //nolint:errcheck
	if a := readAnswer(c, 10*time.Second); a.Status != http.StatusRequestTimeout || !a.Closed {
		t.Fatalf("stalled body: status %d closed %v, want 408 and closed; %q", a.Status, a.Closed, a.Raw)
	}

	const size = 25 // one byte every 100 ms: 2.5 s in all, over a 1 s timeout
	c2, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	fmt.Fprintf(c2, "POST /trickle HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n", size)
	for range size {
		time.Sleep(100 * time.Millisecond)
		if _, err := io.WriteString(c2, "b"); err != nil {
			t.Fatal(err)
		}
	}
	a := readAnswer(c2, 10*time.Second)
	if a.Status != 200 {
		t.Fatalf("moving upload: status %d, want 200; %q", a.Status, a.Raw)
	}
	var got string
	for _, r := range up.requests() {
		if r.URI == "/trickle" {
			got = r.Body
		}
	}
	if got != strings.Repeat("b", size) {
		t.Fatalf("upstream got body %q", got)
	}
}

// keepalive_timeout closes a client connection idle between requests.
func TestClientKeepaliveTimeout(t *testing.T) {
	up := newRecorder(t, 0)
	g := startGateway(t, "  http:\n    keepalive_timeout: 1s\n", oneRoute, up)
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /k HTTP/1.1\r\nHost: x\r\n\r\n") //nolint:errcheck
	// The answer, then the gateway's close after about a second idle (the
	// quiet bound, 10 s, only stops a test that would otherwise hang).
	a := readAnswer(c, 10*time.Second)
	if a.Status != 200 || !a.Closed {
		t.Fatalf("status %d closed %v, want 200 and then closed", a.Status, a.Closed)
	}
}
