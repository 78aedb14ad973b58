package config

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/heimdallgw/heimdall/internal/httpcore"
	"github.com/heimdallgw/heimdall/internal/vars"
)

func TestRouteMatchingFields(t *testing.T) {
	m, err := ParseMain("conf/config.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseRoutes("conf/apisix.yaml", []byte(`
routes:
  - id: r1
    uri: /index.html
    vars: [["arg_name", "==", "json"], ["arg_age", ">", 18]]
    remote_addr: 10.0.0.1
    remote_addrs: ["192.168.0.0/16", "::1"]
    upstream: {nodes: {"127.0.0.1:1980": 1}}
#END
`), m)
	if err != nil {
		t.Fatal(err)
	}
	rt := r.Routes[0]
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("::1/128")}
	if len(rt.RemoteAddrs) != 3 || rt.RemoteAddrs[0] != want[0] || rt.RemoteAddrs[1] != want[1] || rt.RemoteAddrs[2] != want[2] {
		t.Errorf("RemoteAddrs = %v", rt.RemoteAddrs)
	}
	req := &httpcore.Request{}
	req.SetPath([]byte("/index.html?name=json&age=20"))
	if rt.Vars == nil || !rt.Vars.Eval(&vars.Context{Req: req}) {
		t.Error("vars did not compile to a true condition")
	}
	req.SetPath([]byte("/index.html?name=json&age=2"))
	if rt.Vars.Eval(&vars.Context{Req: req}) {
		t.Error("vars true for age=2")
	}
}

func TestRouteMatchingErrors(t *testing.T) {
	m, _ := ParseMain("conf/config.yaml", nil)
	for _, tc := range []struct{ yaml, want string }{
		{"routes:\n  - uri: /\n    id: x\n    filter_func: \"function(vars) return true end\"\n    upstream: {nodes: {\"127.0.0.1:1\": 1}}\n#END\n",
			"conf/apisix.yaml:4:18: routes[0].filter_func: Lua is not supported: filter_func"},
		{"routes:\n  - uri: /\n    id: x\n    vars: [[\"arg_a\", \"=~\", \"1\"]]\n    upstream: {nodes: {\"127.0.0.1:1\": 1}}\n#END\n",
			"conf/apisix.yaml:4:22: routes[0].vars: unknown operator \"=~\""},
		{"routes:\n  - uri: /\n    id: x\n    remote_addrs: [\"10.0.0.0/33\"]\n    upstream: {nodes: {\"127.0.0.1:1\": 1}}\n#END\n",
			"conf/apisix.yaml:4:20: routes[0].remote_addrs[0]: invalid CIDR"},
		{"routes:\n  - uri: /\n    id: x\n    remote_addr: nope\n    upstream: {nodes: {\"127.0.0.1:1\": 1}}\n#END\n",
			"conf/apisix.yaml:4:18: routes[0].remote_addr: invalid IP address"},
	} {
		_, err := ParseRoutes("conf/apisix.yaml", []byte(tc.yaml), m)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}
