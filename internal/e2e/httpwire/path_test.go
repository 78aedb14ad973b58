package httpwire

import (
	"strings"
	"testing"
	"time"
)

// Routes match the path as nginx normalises it; the upstream gets the
// request-target as the client sent it (APISIX without proxy-rewrite). A
// "/public/*" route cannot be used to reach anything outside /public by
// dot segments, encoded dots or encoded slashes: such requests match no
// route (404) and the upstream receives nothing.
func TestPathSafety(t *testing.T) {
	up := newRecorder(t, 0)
	g := startGateway(t, "", `routes:
  - id: 1
    uri: /public/*
    upstream_id: 1
upstreams:
  - id: 1
    nodes: {"UPSTREAM": 1}
`, up)
	refused := []struct {
		path string
		want int
	}{
		{"/public/../admin", 404},
		{"/public/%2e%2e/admin", 404},
		{"/public/%2E%2E/admin", 404},
		{"/public/.%2e/admin", 404},
		{"/public/..%2fadmin", 404},
		{"/public/..%2Fadmin", 404},
		{"/public%2f..%2fadmin", 404},
		{"/public/./../admin", 404},
		{"/public/a/../../admin", 404},
		{"/public/%2e%2e", 404},
		{"//admin", 404},
		{"/public/../../admin", 400}, // above the root (nginx: 400)
		{"/public/%2", 400},
		{"/public/a%00b", 400},
	}
	for _, tt := range refused {
		before := len(up.bytes())
		a := g.exchange(t, "GET "+tt.path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 2*time.Second)
		if a.Status != tt.want {
			t.Errorf("%s: status %d, want %d", tt.path, a.Status, tt.want)
		}
		if got := up.bytes()[before:]; got != "" {
			t.Errorf("%s: the upstream received %q", tt.path, got)
		}
	}
	allowed := []string{
		"/public/a",
		"/public//a",
		"//public/a",
		"/public/./a",
		"/public/x/../a",
		"/public/%61",
		"/public/a%2Fb",
		"/public/a?next=/../admin",
	}
	for _, path := range allowed {
		before := len(up.bytes())
		a := g.exchange(t, "GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 2*time.Second)
		if a.Status != 200 {
			t.Errorf("%s: status %d, want 200", path, a.Status)
			continue
		}
		// Forwarded as sent.
		if got := up.bytes()[before:]; !strings.HasPrefix(got, "GET "+path+" HTTP/1.1\r\n") {
			t.Errorf("%s: the upstream received %.80q", path, got)
		}
	}
}
