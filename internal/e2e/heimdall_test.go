package e2e

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var heimdallOnly = []Plugin{{Name: "heimdall", Priority: 7999}}

// waitCtx waits for the heimdall line of kind whose text satisfies ok and
// returns its context id.
func waitHeimdall(t *testing.T, g *Gateway, kind string, ok func(text string) bool) heimdallLog {
	t.Helper()
	var found heimdallLog
	g.WaitLog(t, "#"+kind, func(e Entry) bool {
		if e.Str("plugin") != "heimdall" {
			return false
		}
		m := heimdallLine.FindStringSubmatch(e.Msg)
		if m == nil || m[1] != kind || !ok(m[4]) {
			return false
		}
		found = heimdallLog{Kind: m[1], Ctx: m[2], Text: m[4], E: e}
		return true
	})
	return found
}

func TestHeimdallLogsTheExchange(t *testing.T) {
	g := Start(t, Options{
		Plugins: heimdallOnly,
		Routes:  routes(route("1", "/*", "heimdall", `{"max_body_bytes": 4096}`)),
	})
	req := newReq(t, "POST", g.URL+"/post", strings.NewReader("hello"),
		"Content-Type", "text/plain",
		"Authorization", "Bearer s3cr3t-token",
		"Cookie", "session=c00kie-value",
		"X-Trace", "e2e-trace")
	resp, body := do(t, req)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	echo := decodeEcho(t, body)
	if echo.Data != "hello" || echo.Method != "POST" {
		t.Fatalf("httpbin saw data %q method %q", echo.Data, echo.Method)
	}

	rb := waitHeimdall(t, g, "response_body", func(s string) bool { return strings.Contains(s, `"data": "hello"`) })
	ctx := rb.Ctx
	lines := ofCtx(heimdallLines(g), ctx)
	for _, l := range lines {
		if got := l.E.Str("context_id"); got != ctx {
			t.Errorf("line %q has context_id attribute %q, want %s", l.E.Msg, got, ctx)
		}
	}

	reqHdrs := texts(lines, "request_header")
	for _, want := range []string{
		":method: POST", ":path: /post", "content-type: text/plain", "x-trace: e2e-trace",
		"authorization: <redacted>", "cookie: <redacted>",
	} {
		if !containsStr(reqHdrs, want) {
			t.Errorf("no #request_header %s -> %s; got %q", ctx, want, reqHdrs)
		}
	}
	for _, h := range reqHdrs {
		if strings.Contains(h, "s3cr3t") || strings.Contains(h, "c00kie") {
			t.Errorf("secret logged: %q", h)
		}
	}
	if got := texts(lines, "request_body"); len(got) != 1 || got[0] != "hello" {
		t.Errorf("#request_body lines for %s: %q, want [hello]", ctx, got)
	}
	respHdrs := texts(lines, "response_header")
	if len(respHdrs) == 0 || respHdrs[0] != ":status: 200" {
		t.Errorf("#response_header lines for %s: %q, want :status: 200 first", ctx, respHdrs)
	}
	if !containsStr(respHdrs, "content-type: application/json; charset=utf-8") {
		t.Errorf("#response_header lines lack httpbin's content-type: %q", respHdrs)
	}
	rbs := texts(lines, "response_body")
	if len(rbs) != 1 || rbs[0] != string(body) {
		t.Errorf("#response_body for %s is not the body the client got:\nlog:  %q\nbody: %q", ctx, rbs, body)
	}

	// Order of the kinds within the exchange.
	rank := map[string]int{"request_header": 0, "request_body": 1, "response_header": 2, "response_body": 3}
	for i := 1; i < len(lines); i++ {
		if rank[lines[i].Kind] < rank[lines[i-1].Kind] {
			t.Errorf("line %q logged after %q", lines[i].E.Msg, lines[i-1].E.Msg)
		}
	}
	// No other context logged a body for this request.
	for _, l := range heimdallLines(g) {
		if l.Ctx != ctx && l.Kind == "request_body" {
			t.Errorf("unexpected body line of another context: %q", l.E.Msg)
		}
	}
}

func TestHeimdallTruncatesBodies(t *testing.T) {
	g := Start(t, Options{
		Plugins: heimdallOnly,
		Routes:  routes(route("1", "/*", "heimdall", `{"max_body_bytes": 8, "redact": []}`)),
	})
	// 7 ASCII bytes then a 2-byte character across the limit: the cut goes
	// back to a whole character.
	sent := "abcdefgé-and-more"
	resp, body := do(t, newReq(t, "POST", g.URL+"/post", strings.NewReader(sent), "Content-Type", "text/plain", "Authorization", "Basic visible"))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if e := decodeEcho(t, body); e.Data != sent {
		t.Fatalf("upstream got %q, want %q (the plugin must not change the body)", e.Data, sent)
	}
	want := fmt.Sprintf("abcdefg... <truncated: %d bytes>", len(sent))
	rq := waitHeimdall(t, g, "request_body", func(string) bool { return true })
	if rq.Text != want {
		t.Errorf("#request_body = %q, want %q", rq.Text, want)
	}
	rs := waitHeimdall(t, g, "response_body", func(string) bool { return true })
	if rs.Ctx != rq.Ctx {
		t.Errorf("request body logged by context %s, response body by %s", rq.Ctx, rs.Ctx)
	}
	m := regexp.MustCompile(`(?s)^(.*)\.\.\. <truncated: (\d+) bytes>$`).FindStringSubmatch(rs.Text)
	if m == nil {
		t.Fatalf("#response_body = %q, want a truncation note", rs.Text)
	}
	if n, _ := strconv.Atoi(m[2]); n != len(body) || m[1] != string(body[:8]) {
		t.Errorf("#response_body = %q; client got %d bytes starting %q", rs.Text, len(body), body[:8])
	}
	// "redact": [] disables redaction.
	if !containsStr(texts(ofCtx(heimdallLines(g), rq.Ctx), "request_header"), "authorization: Basic visible") {
		t.Errorf("with redact [] the authorization header should be logged as is")
	}
}

func TestHeimdallChunkedRequestBodyLoggedOnce(t *testing.T) {
	g := Start(t, Options{
		Plugins: heimdallOnly,
		Routes:  routes(route("1", "/*", "heimdall", `{}`)),
	})
	pr, pw := io.Pipe()
	req := newReq(t, "POST", g.URL+"/post", pr, "Content-Type", "text/plain", "X-Chunked-Test", "1")
	req.ContentLength = -1 // Transfer-Encoding: chunked; each write is flushed as a chunk
	type result struct {
		resp *http.Response
		body []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := Client().Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{resp, b, err}
	}()
	// The request headers reach the plugin before any of the body is sent.
	h := waitHeimdall(t, g, "request_header", func(s string) bool { return s == "x-chunked-test: 1" })
	chunks := []string{"first-piece;", "second-piece;", "third-piece;", "last"}
	for i, c := range chunks {
		if _, err := pw.Write([]byte(c)); err != nil {
			t.Fatalf("writing chunk %d: %v", i, err)
		}
		// Spread the chunks out so that they arrive as separate reads; the
		// outcome checked below does not depend on how they arrive.
		time.Sleep(20 * time.Millisecond)
	}
	pw.Close()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	whole := strings.Join(chunks, "")
	if r.resp.StatusCode != 200 {
		t.Fatalf("status %d", r.resp.StatusCode)
	}
	if e := decodeEcho(t, r.body); e.Data != whole {
		t.Fatalf("upstream got %q, want %q", e.Data, whole)
	}
	waitHeimdall(t, g, "response_body", func(string) bool { return true })
	lines := ofCtx(heimdallLines(g), h.Ctx)
	if got := texts(lines, "request_body"); len(got) != 1 || got[0] != whole {
		t.Errorf("#request_body lines for %s = %q, want exactly [%q]", h.Ctx, got, whole)
	}
	for _, h := range texts(lines, "request_header") {
		if strings.HasPrefix(h, "content-length:") {
			t.Errorf("request was not sent chunked: %q", h)
		}
	}
}

func TestHeimdallInvalidConfRejectedAtStart(t *testing.T) {
	g, err := Launch(t, Options{
		Plugins: heimdallOnly,
		Routes:  routes(route("7", "/*", "heimdall", `"not json"`)),
	})
	if err == nil {
		g.Stop(t)
		t.Fatal("gateway started with an invalid heimdall conf")
	}
	msg := err.Error()
	for _, want := range []string{"apisix.yaml", "route 7", "plugin heimdall"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %q", msg, want)
		}
	}
}

func TestHeimdallInvalidConfAtReloadKeepsOldRoutes(t *testing.T) {
	g := Start(t, Options{
		Plugins: heimdallOnly,
		Routes:  routes(route("1", "/*", "heimdall", `{"max_body_bytes": 4}`)),
	})
	post := func(body string) (int, string) {
		resp, b := do(t, newReq(t, "POST", g.URL+"/post", strings.NewReader(body), "Content-Type", "text/plain"))
		if resp.StatusCode == 200 {
			if e := decodeEcho(t, b); e.Data != body {
				t.Fatalf("upstream got %q, want %q", e.Data, body)
			}
		}
		return resp.StatusCode, string(b)
	}
	if st, b := post("before"); st != 200 {
		t.Fatalf("status %d: %s", st, b)
	}
	waitHeimdall(t, g, "request_body", func(s string) bool { return s == "befo... <truncated: 6 bytes>" })

	// A new file with an invalid conf, which would also have removed /post.
	g.WriteRoutes(t, routes(route("2", "/anything/*", "heimdall", `"not json"`)))
	rej := g.WaitLog(t, "rejecting the new routes", func(e Entry) bool {
		return e.Msg == "new routes rejected; the previous routes keep serving"
	})
	if err := rej.Str("err"); !strings.Contains(err, "route 2") || !strings.Contains(err, "plugin heimdall") {
		t.Errorf("rejection error %q should name route 2 and plugin heimdall", err)
	}
	if st, b := post("during"); st != 200 {
		t.Fatalf("after a rejected reload: status %d: %s", st, b)
	}
	waitHeimdall(t, g, "request_body", func(s string) bool { return s == "duri... <truncated: 6 bytes>" })

	// A valid file is still picked up afterwards.
	g.WriteRoutes(t, routes(route("3", "/anything/*", "heimdall", `{"max_body_bytes": 2}`)))
	g.WaitLog(t, "routes applied with route 3", func(e Entry) bool {
		return e.Msg == "routes applied" && e.Str("version") != "1"
	})
	if st, _ := post("after"); st != 404 {
		t.Errorf("/post after the valid reload: status %d, want 404 (route gone)", st)
	}
	resp, _ := do(t, newReq(t, "POST", g.URL+"/anything/x", strings.NewReader("after")))
	if resp.StatusCode != 200 {
		t.Errorf("/anything/x after the reload: status %d", resp.StatusCode)
	}
	waitHeimdall(t, g, "request_body", func(s string) bool { return s == "af... <truncated: 5 bytes>" })
}
