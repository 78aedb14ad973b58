package e2e

import (
	"strings"
	"testing"
)

// Three plugins on one route: headers sets the API key auth checks and adds a
// response header; heimdall logs what it sees in between. Whether auth
// accepts tells whether headers ran before it on the request; whether
// heimdall logs the key or headers' response header tells the order relative
// to heimdall in each direction (requests: priority order, rewrite phase
// before access; responses: the reverse).
func TestPluginOrder(t *testing.T) {
	const headersConf = `{"request": {"set": {"x-api-key": "key-1"}}, "response": {"add": {"x-served-by": "headers-plugin"}}}`
	const authConf = `{"keys": ["key-1"]}`
	cases := []struct {
		name    string
		headers Plugin // heimdall is at 7999 access, auth at 2000 access
		// request order, as the outcome shows it
		authAccepts       bool // headers ran before auth
		heimdallSeesKey   bool // headers ran before heimdall on the request
		heimdallSeesAdded bool // headers ran before heimdall on the response
	}{
		{"headers highest priority", Plugin{Name: "headers", Priority: 9000},
			true, true, false},
		{"headers lowest priority", Plugin{Name: "headers", Priority: 1000},
			false, false, true},
		{"headers lowest priority in the rewrite phase", Plugin{Name: "headers", Priority: 1000, Phase: "rewrite"},
			true, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := Start(t, Options{
				Plugins: []Plugin{c.headers, {Name: "heimdall", Priority: 7999}, {Name: "auth", Priority: 2000}},
				Routes: routes(route("1", "/*",
					"auth", authConf, "heimdall", `{}`, "headers", headersConf)),
			})
			// Without a key from the client: only headers can provide it.
			resp, body := do(t, newReq(t, "GET", g.URL+"/headers", nil, "X-Case", "no-key"))
			if got := resp.StatusCode == 200; got != c.authAccepts {
				t.Fatalf("status %d (%s): auth accepted = %v, want %v", resp.StatusCode, body, got, c.authAccepts)
			}
			if !c.authAccepts && resp.StatusCode != 401 {
				t.Fatalf("status %d, want 401 from auth", resp.StatusCode)
			}
			if c.authAccepts {
				if got := decodeEcho(t, body).Headers.Get("X-Api-Key"); got != "key-1" {
					t.Errorf("upstream x-api-key %q, want key-1", got)
				}
			}
			h := waitHeimdall(t, g, "request_header", func(s string) bool { return s == "x-case: no-key" })
			reqHdrs := texts(ofCtx(heimdallLines(g), h.Ctx), "request_header")
			if got := containsStr(reqHdrs, "x-api-key: key-1"); got != c.heimdallSeesKey {
				t.Errorf("heimdall saw the key set by headers = %v, want %v; it logged %q", got, c.heimdallSeesKey, reqHdrs)
			}

			// With the key from the client every plugin lets the request
			// through, so the whole response path runs.
			resp, body = do(t, newReq(t, "GET", g.URL+"/headers", nil, "X-Case", "key", "X-Api-Key", "key-1"))
			if resp.StatusCode != 200 {
				t.Fatalf("with the key: status %d: %s", resp.StatusCode, body)
			}
			if got := resp.Header.Get("X-Served-By"); got != "headers-plugin" {
				t.Errorf("client got x-served-by %q", got)
			}
			h = waitHeimdall(t, g, "request_header", func(s string) bool { return s == "x-case: key" })
			var respHdrs []string
			g.WaitLog(t, "heimdall's response headers for the second request", func(Entry) bool {
				respHdrs = texts(ofCtx(heimdallLines(g), h.Ctx), "response_header")
				return len(respHdrs) > 0
			})
			if got := containsStr(respHdrs, "x-served-by: headers-plugin"); got != c.heimdallSeesAdded {
				t.Errorf("heimdall saw headers' response header = %v, want %v; it logged %q", got, c.heimdallSeesAdded, respHdrs)
			}
			for _, l := range respHdrs {
				if strings.HasPrefix(l, ":status:") && l != ":status: 200" {
					t.Errorf("heimdall logged %q", l)
				}
			}
		})
	}
}
