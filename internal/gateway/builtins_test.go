package gateway

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/testutil/gwtest"
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
