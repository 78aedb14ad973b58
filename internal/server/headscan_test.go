package server

import (
	"errors"
	"strings"
	"testing"
)

// The head scan gives the same verdict however the head is split across
// reads (a client may send it a byte at a time), and stops at the blank
// line: the body after it is not scanned.
func TestHeadScan(t *testing.T) {
	tests := []struct {
		name string
		head string
		want error
		open bool // the request line has not ended
	}{
		{"valid", "GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n\r\nbody\nwith\n\n LF", nil, false},
		{"empty lines first", "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", nil, false},
		{"bare LF in the request line", "GET / HTTP/1.1\nHost: x\r\n\r\n", errBareLF, false},
		{"bare LF ending the head", "GET / HTTP/1.1\r\nHost: x\r\n\n", errBareLF, false},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\n\tmore\r\n\r\n", errObsFold, false},
		{"too many fields", "GET / HTTP/1.1\r\n" + strings.Repeat("A: b\r\n", 4) + "\r\n", errTooManyHeaders, false},
		{"as many fields as allowed", "GET / HTTP/1.1\r\n" + strings.Repeat("A: b\r\n", 3) + "\r\n", nil, false},
		{"request line unfinished", "GET /" + strings.Repeat("a", 500), nil, true},
	}
	for _, tt := range tests {
		for _, step := range []int{1, 2, 7, 1 << 20} {
			var h headScan
			h.maxHeaders = 3
			h.start()
			var err error
			for p := tt.head; len(p) > 0 && err == nil; {
				n := min(step, len(p))
				err = h.scan([]byte(p[:n]))
				p = p[n:]
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("%s, reads of %d: %v, want %v", tt.name, step, err, tt.want)
			}
			if err == nil && h.requestLineOpen() != tt.open {
				t.Errorf("%s, reads of %d: requestLineOpen %v", tt.name, step, !tt.open)
			}
		}
	}
	var h headScan
	h.start()
	if err := h.scan([]byte("GET /a?b HTTP/1.0\r\n")); err != nil {
		t.Fatal(err)
	}
	if m, target := h.requestLine(); string(m) != "GET" || string(target) != "/a?b" || !h.http10() {
		t.Errorf("requestLine %q %q http10 %v", m, target, h.http10())
	}
}

// BenchmarkHeadScan is the per-request cost of the head checks on a typical
// browser-sized head (12 fields).
func BenchmarkHeadScan(b *testing.B) {
	head := []byte("GET /api/v1/users/42?x=1 HTTP/1.1\r\nHost: example.com\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0\r\n" +
		"Accept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\n" +
		"Accept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\nCookie: a=b; c=d\r\n" +
		"Upgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\nSec-Fetch-Mode: navigate\r\n" +
		"Sec-Fetch-Site: none\r\nCache-Control: max-age=0\r\n\r\n")
	var h headScan
	h.maxHeaders = DefaultMaxHeaderCount
	b.SetBytes(int64(len(head)))
	for range b.N {
		h.start()
		if err := h.scan(head); err != nil {
			b.Fatal(err)
		}
	}
}
