package admin

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/testutil/etcdtest"
)

const (
	adminKey  = "admin-key-0123456789"
	viewerKey = "viewer-key-0123456789"
)

type fixture struct {
	t    *testing.T
	url  string
	etcd *etcdtest.Server
}

func newFixture(t *testing.T, allow ...string) *fixture {
	t.Helper()
	srv := etcdtest.Start(t)
	conf := fmt.Sprintf(`deployment:
  role: traditional
  etcd: {host: [%q], timeout: 1}
  admin:
    admin_key:
      - {name: admin, key: %s, role: admin}
      - {name: viewer, key: %s, role: viewer}
`, srv.Endpoint(), adminKey, viewerKey)
	m, err := config.ParseMain("config.yaml", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if allow != nil {
		m.Deployment.Admin.Allow = nil
		for _, a := range allow {
			m.Deployment.Admin.Allow = append(m.Deployment.Admin.Allow, netip.MustParsePrefix(a))
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: New(Options{Main: m, Client: srv.Client(), Now: func() time.Time { return time.Unix(1700000000, 0) }})}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return &fixture{t: t, url: "http://" + ln.Addr().String() + Prefix, etcd: srv}
}

// do sends a request and decodes the JSON answer.
func (fx *fixture) do(method, path, key, body string, hdr ...string) (int, map[string]any) {
	fx.t.Helper()
	req, err := http.NewRequest(method, fx.url+path, strings.NewReader(body))
	if err != nil {
		fx.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-API-KEY", key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fx.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		fx.t.Fatalf("%s %s: answer is not a JSON object: %q", method, path, data)
	}
	return resp.StatusCode, out
}

func (fx *fixture) want(method, path, key, body string, code int) map[string]any {
	fx.t.Helper()
	got, out := fx.do(method, path, key, body)
	if got != code {
		fx.t.Fatalf("%s %s = %d %v, want %d", method, path, got, out, code)
	}
	return out
}

func TestSecurity(t *testing.T) {
	fx := newFixture(t)
	tests := []struct {
		name, method, key string
		code              int
		msg               string
	}{
		{"no key", "GET", "", 401, "failed to check token"},
		{"wrong key", "GET", adminKey + "x", 401, "failed to check token"},
		{"key prefix", "GET", adminKey[:10], 401, "failed to check token"},
		{"viewer reads", "GET", viewerKey, 200, ""},
		{"viewer writes", "PUT", viewerKey, 403, "invalid method for role viewer"},
		{"viewer deletes", "DELETE", viewerKey, 403, "invalid method for role viewer"},
		{"admin", "GET", adminKey, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/routes"
			if tt.method != "GET" {
				path = "/routes/1"
			}
			code, out := fx.do(tt.method, path, tt.key, `{"uri":"/a","upstream":{"nodes":{"127.0.0.1:1":1}}}`)
			if code != tt.code || (tt.msg != "" && out["error_msg"] != tt.msg) {
				t.Errorf("= %d %v, want %d %q", code, out, tt.code, tt.msg)
			}
		})
	}
	// The key is only read from the header (APISIX also takes ?api_key=).
	if code, _ := fx.do("GET", "/routes?api_key="+adminKey, "", ""); code != 401 {
		t.Errorf("key in the query string accepted: %d", code)
	}

	// allow_admin is checked against the TCP peer (127.0.0.1 here), never
	// the forwarding headers (CVE-2022-24112).
	closed := newFixture(t, "10.0.0.0/8")
	for _, h := range [][]string{nil, {"X-Forwarded-For", "10.0.0.1"}, {"X-Real-IP", "10.0.0.1"}} {
		code, out := closed.do("GET", "/routes", adminKey, "", h...)
		if code != 403 || out["error_msg"] != "client address not allowed by deployment.admin.allow_admin" {
			t.Errorf("peer outside allow_admin, headers %v: %d %v", h, code, out)
		}
	}
}

func TestObjects(t *testing.T) {
	fx := newFixture(t)
	const up = `{"nodes":{"127.0.0.1:8080":1},"type":"roundrobin"}`

	out := fx.want("PUT", "/upstreams/1", adminKey, up, 201)
	v := out["value"].(map[string]any)
	if out["key"] != "/apisix/upstreams/1" || v["id"] != "1" || v["create_time"] != 1700000000.0 || out["createdIndex"] == nil || out["modifiedIndex"] == nil {
		t.Errorf("PUT answer = %v", out)
	}
	fx.want("PUT", "/upstreams/1", adminKey, up, 200) // an update

	// Routes: the upstream must exist; schema errors are apisix.yaml's text.
	out = fx.want("PUT", "/routes/1", adminKey, `{"uri":"/r/*","upstream_id":"9"}`, 400)
	if out["error_msg"] != "failed to fetch upstream info by upstream id [9], response code: 404" {
		t.Errorf("missing upstream: %v", out)
	}
	out = fx.want("PUT", "/routes/1", adminKey, `{"uri":"r","upstream_id":"1"}`, 400)
	if out["error_msg"] != `uri: uri "r" must start with /; allowed: "/exact" or "/prefix/*"` {
		t.Errorf("schema error: %v", out)
	}
	out = fx.want("PUT", "/routes/1", adminKey, `{"id":"2","uri":"/r","upstream_id":"1"}`, 400)
	if !strings.HasPrefix(out["error_msg"].(string), "wrong route id") {
		t.Errorf("id mismatch: %v", out)
	}
	// What the APISIX dashboard sends.
	dash := `{"uri":"/r/*","name":"r","desc":"from the dashboard","labels":{"team":"a"},"upstream_id":"1",
		"plugins":{"proxy-rewrite":{"regex_uri":["^/r/(.*)","/$1"]}}}`
	fx.want("PUT", "/routes/1", adminKey, dash, 201)

	out = fx.want("GET", "/routes/1", viewerKey, "", 200)
	if out["key"] != "/apisix/routes/1" || out["value"].(map[string]any)["desc"] != "from the dashboard" {
		t.Errorf("GET = %v", out)
	}
	out = fx.want("GET", "/routes/404", adminKey, "", 404)
	if out["message"] != "Key not found" {
		t.Errorf("GET missing = %v", out)
	}

	// The upstream is in use.
	out = fx.want("DELETE", "/upstreams/1", adminKey, "", 400)
	if out["error_msg"] != "can not delete this upstream, route [1] is still using it now" {
		t.Errorf("DELETE in use = %v", out)
	}

	// PATCH: merge, null removes, sub-path replaces.
	out = fx.want("PATCH", "/routes/1", adminKey, `{"desc":null,"labels":{"env":"prod"}}`, 200)
	v = out["value"].(map[string]any)
	if _, has := v["desc"]; has || fmt.Sprint(v["labels"]) != "map[env:prod team:a]" {
		t.Errorf("PATCH merge = %v", v)
	}
	out = fx.want("PATCH", "/routes/1/plugins", adminKey, `{"proxy-rewrite":{"uri":"/anything"}}`, 200)
	v = out["value"].(map[string]any)
	if fmt.Sprint(v["plugins"]) != "map[proxy-rewrite:map[uri:/anything]]" || v["create_time"] != 1700000000.0 {
		t.Errorf("PATCH sub-path = %v", v)
	}
	out = fx.want("PATCH", "/routes/1/uri", adminKey, `"nope"`, 400)
	if !strings.HasPrefix(out["error_msg"].(string), `uri: uri "nope" must start with /`) {
		t.Errorf("invalid PATCH = %v", out)
	}

	// POST generates ids; list pages by creation.
	for i := range 11 {
		out = fx.want("POST", "/routes", adminKey, fmt.Sprintf(`{"uri":"/p%d","upstream_id":"1"}`, i), 201)
		if id := out["value"].(map[string]any)["id"].(string); len(id) != 20 {
			t.Errorf("generated id %q", id)
		}
	}
	fx.want("POST", "/routes", adminKey, `{"id":"x","uri":"/p","upstream_id":"1"}`, 400)
	out = fx.want("GET", "/routes", adminKey, "", 200)
	if out["total"] != 12.0 || len(out["list"].([]any)) != 12 {
		t.Errorf("list total %v, %d items", out["total"], len(out["list"].([]any)))
	}
	out = fx.want("GET", "/routes?page=2&page_size=10", adminKey, "", 200)
	list := out["list"].([]any)
	if out["total"] != 12.0 || len(list) != 2 || list[1].(map[string]any)["value"].(map[string]any)["uri"] != "/p10" {
		t.Errorf("page 2 = %v", out)
	}
	fx.want("GET", "/routes?page=1&page_size=5", adminKey, "", 400)

	fx.want("DELETE", "/routes/1", adminKey, "", 200)
	fx.want("DELETE", "/routes/1", adminKey, "", 404)

	// The plugin list (an array, as APISIX's).
	req, _ := http.NewRequest("GET", fx.url+"/plugins/list", nil)
	req.Header.Set("X-API-KEY", viewerKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	json.NewDecoder(resp.Body).Decode(&names)
	resp.Body.Close()
	if fmt.Sprint(names) != "[real-ip cors ip-restriction proxy-rewrite limit-count redirect response-rewrite]" {
		t.Errorf("plugins/list = %v", names)
	}

	// Limits and unknown kinds.
	big := `{"uri":"/big","desc":"` + strings.Repeat("x", MaxBody) + `","upstream_id":"1"}`
	fx.want("PUT", "/routes/big", adminKey, big, 413)
	out = fx.want("GET", "/consumers", adminKey, "", 404)
	if !strings.Contains(out["error_msg"].(string), "routes, upstreams") {
		t.Errorf("unknown kind = %v", out)
	}
	fx.want("PUT", "/routes/bad%20id", adminKey, `{}`, 400)

	// etcd down: 503, never a half answer.
	fx.etcd.Stop()
	fx.want("PUT", "/upstreams/2", adminKey, up, 503)
	fx.want("GET", "/routes", adminKey, "", 503)
}

func TestServicesAndPluginConfigs(t *testing.T) {
	fx := newFixture(t)
	out := fx.want("PUT", "/services/s1", adminKey, `{"upstream_id":"1"}`, 400)
	if out["error_msg"] != "failed to fetch upstream info by upstream id [1], response code: 404" {
		t.Errorf("service with a missing upstream: %v", out)
	}
	fx.want("PUT", "/upstreams/1", adminKey, `{"nodes":{"127.0.0.1:8080":1}}`, 201)
	fx.want("PUT", "/services/s1", adminKey, `{"upstream_id":"1","plugins":{"proxy-rewrite":{"uri":"/x"}}}`, 201)
	out = fx.want("PUT", "/services/s2", adminKey, `{"enable_websocket":true}`, 400)
	if !strings.HasPrefix(out["error_msg"].(string), `unknown field "enable_websocket"`) {
		t.Errorf("service schema: %v", out)
	}
	out = fx.want("PUT", "/plugin_configs/p1", adminKey, `{"desc":"none"}`, 400)
	if out["error_msg"] != "plugins: required" {
		t.Errorf("plugin config schema: %v", out)
	}
	fx.want("PUT", "/plugin_configs/p1", adminKey, `{"plugins":{"proxy-rewrite":{"uri":"/y"}}}`, 201)

	for _, tt := range []struct{ body, msg string }{
		{`{"uri":"/r","service_id":"nope"}`, "failed to fetch service info by service id [nope], response code: 404"},
		{`{"uri":"/r","service_id":"s1","plugin_config_id":"nope"}`, "failed to fetch plugin config info by plugin config id [nope], response code: 404"},
	} {
		if out := fx.want("PUT", "/routes/1", adminKey, tt.body, 400); out["error_msg"] != tt.msg {
			t.Errorf("%s: %v", tt.body, out)
		}
	}
	fx.want("PUT", "/routes/1", adminKey, `{"uri":"/r","service_id":"s1","plugin_config_id":"p1"}`, 201)

	for _, tt := range []struct{ path, msg string }{
		{"/services/s1", "can not delete this service directly, route [1] is still using it now"},
		{"/plugin_configs/p1", "can not delete this plugin config, route [1] is still using it now"},
		{"/upstreams/1", "can not delete this upstream, service [s1] is still using it now"},
	} {
		if out := fx.want("DELETE", tt.path, adminKey, "", 400); out["error_msg"] != tt.msg {
			t.Errorf("DELETE %s: %v", tt.path, out)
		}
	}
	fx.want("DELETE", "/routes/1", adminKey, "", 200)
	fx.want("DELETE", "/services/s1", adminKey, "", 200)
	fx.want("DELETE", "/plugin_configs/p1", adminKey, "", 200)
	fx.want("DELETE", "/upstreams/1", adminKey, "", 200)
}
