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

// chash on the uri hashes nginx's $uri: spellings of one path go to the
// same node.
func TestCHashURINormalised(t *testing.T) {
	a, b := newRecorder(t, 0), newRecorder(t, 0)
	routes := strings.ReplaceAll(`routes:
  - id: 1
    uri: /*
    upstream_id: 1
upstreams:
  - id: 1
    type: chash
    hash_on: vars
    key: uri
    nodes: {"UPSTREAM": 1, "OTHER": 1}
`, "OTHER", b.addr())
	g := startGateway(t, "", routes, a)
	for _, p := range []string{"/same/path", "//same/path", "/same/./path", "/x/../same/path", "/%73ame/path", "/same//path"} {
		if st := g.exchange(t, "GET "+p+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 2*time.Second).Status; st != 200 {
			t.Fatalf("%s: %d", p, st)
		}
	}
	na, nb := len(a.requests()), len(b.requests())
	if na != 0 && nb != 0 {
		t.Fatalf("one path spread over both nodes: %d and %d requests", na, nb)
	}
}
