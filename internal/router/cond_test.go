package router

import (
	"net/netip"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/heimdallgw/heimdall/internal/expr"
	"github.com/heimdallgw/heimdall/internal/httpcore"
	"github.com/heimdallgw/heimdall/internal/vars"
)

func mustExpr(t *testing.T, src string) *expr.Expr {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	e, err := expr.Compile(doc.Content[0])
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// The APISIX router-radixtree doc: several routes on one path, tried by
// priority; the first whose conditions hold wins, else shorter prefixes.
func TestMatchConditions(t *testing.T) {
	routes := []Route[string]{
		{ID: "root", URIs: []string{"/*"}},
		{ID: "json", URIs: []string{"/index.html"}, Priority: 3,
			Vars: mustExpr(t, `[["arg_name","==","json"],["arg_age",">",18]]`)},
		{ID: "internal", URIs: []string{"/index.html"}, Priority: 2,
			RemoteAddrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}},
		{ID: "plain", URIs: []string{"/index.html"}, Priority: 1},
		{ID: "cond-only", URIs: []string{"/c/*"}, Vars: mustExpr(t, `[["http_x_beta","==","1"]]`)},
	}
	r, err := New(routes)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, peer, want string
		hdr                    []string
	}{
		{"vars hold", "/index.html?name=json&age=20", "192.0.2.1", "json", nil},
		{"vars fail, remote addr holds", "/index.html?name=json&age=18", "10.9.9.9", "internal", nil},
		{"ipv6 remote addr", "/index.html", "::1", "internal", nil},
		{"v4-mapped v6 peer", "/index.html", "::ffff:10.0.0.1", "internal", nil},
		{"nothing holds: lower priority plain", "/index.html", "192.0.2.1", "plain", nil},
		{"condition fails: shorter prefix", "/c/x", "192.0.2.1", "root", nil},
		{"condition holds", "/c/x", "192.0.2.1", "cond-only", []string{"X-Beta", "1"}},
	} {
		req := &httpcore.Request{}
		req.SetMethod([]byte("GET"))
		req.SetPath([]byte(tc.path))
		for i := 0; i+1 < len(tc.hdr); i += 2 {
			req.Header.AddString(tc.hdr[i], tc.hdr[i+1])
		}
		c := &vars.Context{Req: req, Peer: netip.MustParseAddr(tc.peer), RemoteAddr: []byte(tc.peer)}
		got := r.MatchContext("GET", "h", string(req.URLPath()), c)
		if got == nil || got.ID != tc.want {
			t.Errorf("%s: got %v, want %s", tc.name, got, tc.want)
		}
	}
	// Without a context, conditional routes never match.
	if got := r.Match("GET", "h", "/c/x"); got == nil || got.ID != "root" {
		t.Errorf("Match without context: %v", got)
	}
}
