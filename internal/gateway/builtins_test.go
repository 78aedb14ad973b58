package gateway

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/testutil/gwtest"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

// The APISIX docs' limit-count example (count 2, time_window 60, 503):
// the third request from one client is rejected, with the quota headers on
// every answer; a second key (X-Api-Key) has its own counter.
func TestGatewayLimitCount(t *testing.T) {
	g := startGateway(t, "", routesYAML("/anything/*", upstream(t), `    plugins:
      limit-count:
        count: 2
        time_window: 60
        rejected_code: 503
        rejected_msg: "Requests are too frequent, please try again later."
        key_type: var
        key: http_x_api_key`))
	do := func(key string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", g.base+"/anything/x", nil)
		req.Header.Set("X-Api-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for i, want := range []string{"1", "0"} {
		resp, _ := do("a")
		if resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Limit") != "2" || resp.Header.Get("X-RateLimit-Remaining") != want {
			t.Fatalf("request %d: status %d, headers %v", i+1, resp.StatusCode, resp.Header)
		}
		if r := resp.Header.Get("X-RateLimit-Reset"); r == "" || r == "0" {
			t.Fatalf("request %d: X-RateLimit-Reset = %q", i+1, r)
		}
	}
	resp, body := do("a")
	if resp.StatusCode != 503 || resp.Header.Get("X-RateLimit-Remaining") != "0" ||
		!strings.Contains(body, `"error_msg":"Requests are too frequent, please try again later."`) {
		t.Fatalf("third request: status %d, headers %v, body %q", resp.StatusCode, resp.Header, body)
	}
	if resp, _ := do("b"); resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Remaining") != "1" {
		t.Fatalf("other key: status %d, headers %v", resp.StatusCode, resp.Header)
	}
}

// limit-count's schema errors name the plugin's field with file:line:col.
func TestGatewayLimitCountConfigErrors(t *testing.T) {
	for _, c := range []struct{ plugin, want string }{
		{"limit-count: {count: 2}", "limit-count.time_window: required"},
		{"limit-count: {count: 0, time_window: 1}", "limit-count.count: must be > 0"},
		{"limit-count: {count: 1, time_window: 1, policy: redis}", `policy "redis" is not supported yet`},
		{"limit-count: {count: 1, time_window: 1, key_type: var, key: $remote_addr}", "key_type var the key is a variable name without $"},
		{"limit-count: {count: 1, time_window: 1, rejected_code: 600}", "between 200 and 599"},
		{"limit-counts: {count: 1}", `unknown plugin "limit-counts"`},
		{`cors: {allow_credential: true}`, `cors.allow_origins: "*" is not allowed with allow_credential: true`},
		{`cors: {allow_origins_by_regex: ["("]}`, "cors.allow_origins_by_regex[0]: regex does not compile"},
		{"response-rewrite: {vars: [[arg_x, ==, y]], status_code: 200}", "response-rewrite.vars: not supported yet"},
		{"response-rewrite: {headers: {set: {X-A: $remote_addr}}}", "nginx variables are not supported yet"},
		{"response-rewrite: {body: '!!', body_base64: true}", "body_base64 is true but body is not base64"},
		{"response-rewrite: {status_code: 600}", "between 200 and 598"},
		{"redirect: {uri: /a, http_to_https: true}", "exactly one of http_to_https, uri, regex_uri"},
		{"redirect: {uri: /$host/x}", "variable $host is not supported yet"},
		{"redirect: {http_to_https: true, append_query_string: true}", "cannot be used with http_to_https"},
		{"ip-restriction: {message: x}", "exactly one of whitelist or blacklist"},
		{"ip-restriction: {whitelist: [a.b]}", `ip-restriction.whitelist[0]: invalid IP or CIDR "a.b"`},
		{"ip-restriction: {blacklist: [10.0.0.1], response_code: 401}", "must be 403 or 404"},
	} {
		_, err := loadRoutesErr(t, routesYAML("/x", "127.0.0.1:1", "    plugins:\n      "+c.plugin))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "apisix.yaml:") {
			t.Errorf("%s: err = %v, want %q with a position", c.plugin, err, c.want)
		}
	}
}

// loadRoutesErr decodes routes as the gateway does at start-up.
func loadRoutesErr(t *testing.T, routes string) (*config.Routes, error) {
	t.Helper()
	m, dir := gwtest.Load(t, "apisix:\n  node_listen: 9080\n", "routes: []\n#END\n")
	path := filepath.Join(dir, "apisix.yaml")
	gwtest.WriteFile(t, path, routes)
	return config.LoadRoutes(path, m)
}

// The APISIX docs' ip-restriction examples: a whitelist the client is not
// in answers 403 {"message": ...}; a blacklist with the client too; one
// with the client passes. ip-restriction (3000) runs before limit-count
// (1002): a rejected client does not spend the quota.
func TestGatewayIPRestriction(t *testing.T) {
	up := upstream(t)
	g := startGateway(t, "", fmt.Sprintf(`routes:
  - id: white
    uri: /white
    upstream: {nodes: {"%[1]s": 1}}
    plugins:
      ip-restriction: {whitelist: ["192.168.0.1/24"], message: "Access denied"}
  - id: black
    uri: /black
    upstream: {nodes: {"%[1]s": 1}}
    plugins:
      limit-count: {count: 1, time_window: 60, key_type: constant}
      ip-restriction: {blacklist: ["127.0.0.0/8"], response_code: 404}
  - id: ok
    uri: /anything/ok
    upstream: {nodes: {"%[1]s": 1}}
    plugins:
      ip-restriction: {whitelist: ["10.0.0.0/8", "127.0.0.1"]}
      limit-count: {count: 1, time_window: 60, key_type: constant}
#END
`, up))
	if code, body := get(t, g.base+"/white"); code != 403 || strings.TrimSpace(body) != `{"message":"Access denied"}` {
		t.Fatalf("whitelist: %d %q", code, body)
	}
	for i := 0; i < 2; i++ {
		if code, body := get(t, g.base+"/black"); code != 404 || strings.TrimSpace(body) != `{"message":"Your IP address is not allowed"}` {
			t.Fatalf("blacklist %d: %d %q (ip-restriction must run before limit-count)", i, code, body)
		}
	}
	if code, _ := get(t, g.base+"/anything/ok"); code != 200 {
		t.Fatalf("allowed client: %d", code)
	}
	if code, _ := get(t, g.base+"/anything/ok"); code != 503 {
		t.Fatalf("allowed client, second request: %d, want limit-count's 503", code)
	}
}

// Built-in and wasm plugins share one order: the headers wasm plugin sets
// X-Api-Key, limit-count (access, 1002) counts by it. With the wasm plugin
// at access priority 2000 it runs first, so two clients sending different
// keys share one counter; at 500 it runs after, and they do not. In the
// rewrite phase even priority 1 runs before every access plugin.
func TestGatewayBuiltinAndWasmOrder(t *testing.T) {
	wasm := wasmbuild.MustBuild(t, "plugins/headers")
	up := upstream(t)
	for _, c := range []struct {
		name, wasmPlugin string
		shared           bool
	}{
		{"wasm access 2000", "priority: 2000", true},
		{"wasm access 500", "priority: 500", false},
		{"wasm rewrite 1", "priority: 1\n      http_request_phase: rewrite", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := startGateway(t, "wasm:\n  plugins:\n    - name: headers\n      file: "+wasm+"\n      "+c.wasmPlugin+"\n", routesYAML("/anything/*", up, `    plugins:
      headers:
        conf: {"request": {"set": {"x-api-key": "same"}}}
      limit-count: {count: 1, time_window: 60, key: http_x_api_key}`))
			status := func(key string) int {
				req, _ := http.NewRequest("GET", g.base+"/anything/x", nil)
				req.Header.Set("X-Api-Key", key)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if s := status("a"); s != 200 {
				t.Fatalf("first: %d", s)
			}
			want := 200
			if c.shared {
				want = 503
			}
			if s := status("b"); s != want {
				t.Fatalf("second client: %d, want %d", s, want)
			}
		})
	}
}

// cors: the APISIX docs' examples. Defaults allow every origin ("*");
// a listed origin is echoed with Vary; an unlisted one gets no CORS
// headers; a regex matches; a preflight OPTIONS is answered by the
// gateway: the upstream never sees it. The upstream is a plain server, as
// go-httpbin adds CORS headers of its own.
func TestGatewayCORS(t *testing.T) {
	var options atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "OPTIONS" {
			options.Add(1)
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	up := strings.TrimPrefix(srv.URL, "http://")
	g := startGateway(t, "", fmt.Sprintf(`routes:
  - id: default
    uri: /anything/default
    upstream: {nodes: {"%[1]s": 1}}
    plugins:
      cors: {}
  - id: listed
    uri: /anything/listed
    upstream: {nodes: {"%[1]s": 1}}
    plugins:
      cors:
        allow_origins: "http://sub.domain.com,http://sub2.domain.com"
        allow_methods: "GET,POST"
        allow_headers: "**"
        expose_headers: "X-Custom"
        max_age: 3600
        allow_credential: true
        allow_origins_by_regex: ['^http://.*\.test\.com$']
#END
`, up))
	do := func(method, path, origin string) *http.Response {
		req, _ := http.NewRequest(method, g.base+path, nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		req.Header.Set("Access-Control-Request-Headers", "X-Req")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	r := do("GET", "/anything/default", "http://any.com")
	if r.StatusCode != 200 || r.Header.Get("Access-Control-Allow-Origin") != "*" || r.Header.Get("Access-Control-Allow-Methods") != "*" ||
		r.Header.Get("Access-Control-Allow-Headers") != "*" || r.Header.Get("Access-Control-Max-Age") != "5" || r.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("default: %d %v", r.StatusCode, r.Header)
	}
	r = do("GET", "/anything/listed", "http://sub2.domain.com")
	if r.Header.Get("Access-Control-Allow-Origin") != "http://sub2.domain.com" || r.Header.Get("Vary") != "Origin" ||
		r.Header.Get("Access-Control-Allow-Methods") != "GET,POST" || r.Header.Get("Access-Control-Allow-Headers") != "X-Req" ||
		r.Header.Get("Access-Control-Expose-Headers") != "X-Custom" || r.Header.Get("Access-Control-Max-Age") != "3600" ||
		r.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("listed: %v", r.Header)
	}
	if r = do("GET", "/anything/listed", "http://a.test.com"); r.Header.Get("Access-Control-Allow-Origin") != "http://a.test.com" {
		t.Fatalf("regex: %v", r.Header)
	}
	if r = do("GET", "/anything/listed", "http://evil.com"); r.StatusCode != 200 || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("unlisted origin: %d %v", r.StatusCode, r.Header)
	}
	r = do("OPTIONS", "/anything/listed", "http://sub.domain.com")
	if r.StatusCode != 200 || r.Header.Get("Access-Control-Allow-Origin") != "http://sub.domain.com" || r.Header.Get("Access-Control-Allow-Methods") != "GET,POST" {
		t.Fatalf("preflight: %d %v", r.StatusCode, r.Header)
	}
	if n := options.Load(); n != 0 {
		t.Fatalf("preflight reached the upstream %d time(s)", n)
	}
}

// response-rewrite: the APISIX docs' example (a new JSON body and set
// headers, numbers allowed as values), plus add/remove and a status code;
// the body is replaced without buffering the upstream's.
func TestGatewayResponseRewrite(t *testing.T) {
	up := upstream(t)
	g := startGateway(t, "", fmt.Sprintf(`routes:
  - id: doc
    uri: /anything/doc
    upstream: {nodes: {"%[1]s": 1}}
    plugins:
      response-rewrite:
        body: "{\"code\":\"ok\",\"message\":\"new json body\"}"
        headers:
          set: {X-Server-id: 3, X-Server-status: "on"}
  - id: status
    uri: /bytes/*
    upstream: {nodes: {"%[1]s": 1}}
    plugins:
      response-rewrite:
        status_code: 403
        body_base64: true
        body: "SGVsbG8K"
        headers:
          add: ["X-Added: a", "X-Added: b"]
          remove: [Content-Type]
  - id: headers
    uri: /anything/headers
    upstream: {nodes: {"%[1]s": 1}}
    plugins:
      response-rewrite:
        headers: {X-Old-Form: "1"}
#END
`, up))
	resp, err := http.Get(g.base + "/anything/doc")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != `{"code":"ok","message":"new json body"}` ||
		resp.Header.Get("X-Server-Id") != "3" || resp.Header.Get("X-Server-Status") != "on" {
		t.Fatalf("doc example: %d %v %q", resp.StatusCode, resp.Header, b)
	}
	resp, err = http.Get(g.base + "/bytes/100000")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || string(b) != "Hello\n" || fmt.Sprint(resp.Header.Values("X-Added")) != "[a b]" || resp.Header.Get("Content-Type") != "" {
		t.Fatalf("status and base64 body: %d %v %q", resp.StatusCode, resp.Header, b)
	}
	resp, err = http.Get(g.base + "/anything/headers")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Old-Form") != "1" || !strings.Contains(string(b), `"url"`) {
		t.Fatalf("headers only: %d %v %q", resp.StatusCode, resp.Header, b)
	}
}

// redirect: the APISIX docs' examples, answered by the gateway (raw
// requests, so the client follows nothing); a regex_uri that does not
// match proxies as usual.
func TestGatewayRedirect(t *testing.T) {
	up := upstream(t)
	g := startGateway(t, "", fmt.Sprintf(`routes:
  - id: fixed
    uri: /hello
    upstream: {nodes: {"%[1]s": 1}}
    plugins:
      redirect: {uri: /test/default.html, ret_code: 301}
  - id: slash
    uri: /dir/*
    upstream: {nodes: {"%[1]s": 1}}
    plugins:
      redirect: {uri: "$uri/", append_query_string: true}
  - id: https
    uri: /secure/*
    upstream: {nodes: {"%[1]s": 1}}
    plugins:
      redirect: {http_to_https: true}
  - id: regex
    uri: /anything/*
    upstream: {nodes: {"%[1]s": 1}}
    plugins:
      redirect: {regex_uri: ["^/anything/iresty/(.*)/(.*)/(.*)", "/$1-$2-$3"], encode_uri: true}
#END
`, up))
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct {
		path, host string
		code       int
		location   string
	}{
		{"/hello", "", 301, "/test/default.html"},
		{"/dir/a?x=1", "", 302, "/dir/a/?x=1"},
		{"/secure/p?q=1", "example.com:9080", 301, "https://example.com/secure/p?q=1"},
		{"/anything/iresty/a/b c/d", "", 302, "/a-b%20c-d"},
		{"/anything/other", "", 200, ""},
	} {
		req, _ := http.NewRequest("GET", g.base+c.path, nil)
		if c.host != "" {
			req.Host = c.host
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || resp.Header.Get("Location") != c.location {
			t.Errorf("%s: %d Location %q, want %d %q", c.path, resp.StatusCode, resp.Header.Get("Location"), c.code, c.location)
		}
	}
}

// real-ip with ip-restriction: only with real-ip does ip-restriction look
// past the peer, and only when the peer is trusted. recursive skips
// trusted proxies from the right of X-Forwarded-For.
func TestGatewayRealIP(t *testing.T) {
	up := upstream(t)
	g := startGateway(t, "", fmt.Sprintf(`routes:
  - id: peer
    uri: /anything/peer
    upstream: {nodes: {"%[1]s": 1}}
    plugins:
      ip-restriction: {whitelist: ["10.0.0.0/8"]}
  - id: trusted
    uri: /anything/trusted
    upstream: {nodes: {"%[1]s": 1}}
    plugins:
      real-ip: {source: http_x_forwarded_for, trusted_addresses: ["127.0.0.1", "192.168.0.0/16"], recursive: true}
      ip-restriction: {whitelist: ["10.0.0.0/8"]}
  - id: untrusted
    uri: /anything/untrusted
    upstream: {nodes: {"%[1]s": 1}}
    plugins:
      real-ip: {source: http_x_forwarded_for, trusted_addresses: ["192.0.2.0/24"]}
      ip-restriction: {whitelist: ["10.0.0.0/8"]}
  - id: arg
    uri: /anything/arg
    upstream: {nodes: {"%[1]s": 1}}
    plugins:
      real-ip: {source: arg_realip}
      ip-restriction: {blacklist: ["10.9.9.9"]}
#END
`, up))
	status := func(path, xff string) int {
		req, _ := http.NewRequest("GET", g.base+path, nil)
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		path, xff string
		want      int
	}{
		{"/anything/peer", "10.1.2.3", 403},                 // no real-ip: the peer (127.0.0.1) counts
		{"/anything/trusted", "10.1.2.3", 200},              // trusted peer: the header counts
		{"/anything/trusted", "10.1.2.3, 192.168.1.1", 200}, // recursive: the trusted proxy is skipped
		{"/anything/trusted", "172.16.0.1, 10.1.2.3", 200},
		{"/anything/trusted", "10.1.2.3, 172.16.0.1", 403}, // the rightmost untrusted address
		{"/anything/trusted", "", 403},
		{"/anything/untrusted", "10.1.2.3", 403}, // peer not trusted: header ignored
		{"/anything/arg?realip=10.9.9.9", "", 403},
		{"/anything/arg?realip=10.9.9.8", "", 200},
	} {
		if got := status(c.path, c.xff); got != c.want {
			t.Errorf("%s X-Forwarded-For %q: %d, want %d", c.path, c.xff, got, c.want)
		}
	}
}
