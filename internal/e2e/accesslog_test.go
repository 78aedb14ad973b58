package e2e

import (
	"strings"
	"testing"
)

// The demo config's shape: /httpbin/* rewritten to httpbin's paths with
// proxy-rewrite, heimdall attached. The plugin sees the rewritten path (it
// runs after proxy-rewrite, priority 1008, in the rewrite phase), the access
// log shows the path the client sent.
func TestDemoRouteRewriteAndAccessLog(t *testing.T) {
	g := Start(t, Options{
		Plugins: heimdallOnly,
		Routes: `routes:
  - id: 1
    name: httpbin
    uri: /httpbin/*
    upstream_id: 1
    plugins:
      proxy-rewrite:
        regex_uri: ["^/httpbin/(.*)", "/$1"]
      heimdall:
        conf: {"max_body_bytes": 4096}
`,
	})
	resp, body := do(t, newReq(t, "POST", g.URL+"/httpbin/post?x=1", strings.NewReader("hello"), "Content-Type", "text/plain"))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	e := decodeEcho(t, body)
	if e.Data != "hello" || !strings.HasSuffix(e.URL, "/post?x=1") {
		t.Fatalf("httpbin saw url %q data %q", e.URL, e.Data)
	}
	rb := waitHeimdall(t, g, "request_body", func(s string) bool { return s == "hello" })
	if hs := texts(ofCtx(heimdallLines(g), rb.Ctx), "request_header"); !containsStr(hs, ":path: /post?x=1") {
		t.Errorf("heimdall should see the rewritten path; logged %q", hs)
	}
	// The plugin's own log lines carry the request line as received too.
	line := g.WaitLog(t, "a heimdall line with its request context", func(e Entry) bool {
		return strings.HasPrefix(e.Msg, "#request_body") && e.Str("request") != ""
	})
	if got := line.Str("request"); got != "POST /httpbin/post?x=1 HTTP/1.1" {
		t.Errorf("plugin log line request = %q, want the request line as received", got)
	}
	access := g.WaitLog(t, "the access line", func(e Entry) bool { return e.Msg == "access" })
	if access.Str("path") != "/httpbin/post?x=1" || access.Str("method") != "POST" || access.Str("status") != "200" {
		t.Errorf("access line %s: want POST /httpbin/post?x=1 200 (the request as received)", access.Raw)
	}
	if access.Str("route_id") != "1" {
		t.Errorf("access route_id %q", access.Str("route_id"))
	}
}
