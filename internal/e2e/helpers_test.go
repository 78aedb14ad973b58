package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// route is one apisix.yaml route to upstream 1 with wasm plugin confs
// (plugin name → conf as written in YAML, e.g. `{"a": 1}` or `"text"`).
func route(id, uri string, plugins ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  - id: %s\n    uri: %s\n    upstream_id: 1\n", id, uri)
	if len(plugins) > 0 {
		b.WriteString("    plugins:\n")
		for i := 0; i+1 < len(plugins); i += 2 {
			fmt.Fprintf(&b, "      %s:\n        conf: %s\n", plugins[i], plugins[i+1])
		}
	}
	return b.String()
}

// routes joins route() blocks into the routes section.
func routes(rs ...string) string { return "routes:\n" + strings.Join(rs, "") }

// do sends req and returns the response with its body read and closed.
func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return resp, b
}

func newReq(t *testing.T, method, url string, body io.Reader, hdr ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return req
}

// echoed is the part of httpbin's /anything, /post and /headers answers the
// tests look at.
type echoed struct {
	Headers http.Header    `json:"headers"`
	Data    string         `json:"data"`
	JSON    map[string]any `json:"json"`
	Method  string         `json:"method"`
	URL     string         `json:"url"`
}

func decodeEcho(t *testing.T, b []byte) echoed {
	t.Helper()
	var e echoed
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("httpbin answer is not JSON: %v\n%s", err, b)
	}
	return e
}

var heimdallLine = regexp.MustCompile(`(?s)^#(request_header|request_body|response_header|response_body) (\d+) (->|<-) (.*)$`)

// heimdallLog is one line of the heimdall plugin.
type heimdallLog struct {
	Kind string // request_header, request_body, response_header, response_body
	Ctx  string
	Text string // after the arrow
	E    Entry
}

// heimdallLines returns the heimdall plugin's log lines, in order.
func heimdallLines(g *Gateway) []heimdallLog {
	var out []heimdallLog
	for _, e := range g.Logs() {
		if e.Str("plugin") != "heimdall" {
			continue
		}
		m := heimdallLine.FindStringSubmatch(e.Msg)
		if m == nil {
			continue
		}
		out = append(out, heimdallLog{Kind: m[1], Ctx: m[2], Text: m[4], E: e})
	}
	return out
}

// ofCtx keeps the lines of one context.
func ofCtx(ls []heimdallLog, ctx string) []heimdallLog {
	var out []heimdallLog
	for _, l := range ls {
		if l.Ctx == ctx {
			out = append(out, l)
		}
	}
	return out
}

// texts returns the texts of the lines of one kind.
func texts(ls []heimdallLog, kind string) []string {
	var out []string
	for _, l := range ls {
		if l.Kind == kind {
			out = append(out, l.Text)
		}
	}
	return out
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
