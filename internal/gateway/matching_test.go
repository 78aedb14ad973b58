package gateway

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Route vars and remote_addrs through the real gateway and a real upstream,
// after the APISIX router docs: several routes on one path, tried by
// priority, the first whose conditions hold wins. Each route rewrites the
// path to name itself, and go-httpbin's /anything echoes the path it got.
func TestRouteConditions(t *testing.T) {
	up := upstream(t)
	route := func(id string, prio int, cond string) string {
		return fmt.Sprintf(`  - id: %s
    uri: /anything/*
    priority: %d
%s    plugins:
      proxy-rewrite:
        uri: /anything/%s
    upstream:
      nodes:
        "%s": 1
`, id, prio, cond, id, up)
	}
	routes := "routes:\n" +
		route("vars", 4, "    vars: [[\"arg_name\", \"==\", \"json\"], [\"arg_age\", \">\", 18]]\n") +
		route("or", 3, "    vars: [[\"OR\", [\"http_x_beta\", \"==\", \"1\"], [\"cookie_beta\", \"==\", \"1\"]]]\n") +
		route("elsewhere", 2, "    remote_addrs: [\"10.0.0.0/8\", \"::1\"]\n") +
		route("loopback", 1, "    remote_addr: 127.0.0.0/8\n    vars: [[\"http_x_local\", \"~*\", \"^yes$\"]]\n") +
		route("plain", 0, "") + "#END\n"
	g := startGateway(t, "", routes)
	for _, tc := range []struct {
		path, hdrName, hdrVal, want string
	}{
		{"/anything/x?name=json&age=20", "", "", "vars"},
		{"/anything/x?name=json&age=18", "", "", "plain"},
		{"/anything/x", "X-Beta", "1", "or"},
		{"/anything/x", "Cookie", "a=b; beta=1", "or"},
		{"/anything/x", "X-Local", "YES", "loopback"},
		{"/anything/x", "X-Local", "no", "plain"},
	} {
		req := newReq(t, g.base+tc.path)
		if tc.hdrName != "" {
			req.Header.Set(tc.hdrName, tc.hdrVal)
		}
		code, body := do(t, req)
		if code != 200 || !strings.Contains(body, `"url": "http://`) || !(strings.Contains(body, "/anything/"+tc.want+`"`) || strings.Contains(body, "/anything/"+tc.want+`?`)) {
			t.Errorf("%s %s=%s: %d, want route %s; body %s", tc.path, tc.hdrName, tc.hdrVal, code, tc.want, body)
		}
	}
}

func newReq(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
