package expr

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/heimdallgw/heimdall/internal/httpcore"
	"github.com/heimdallgw/heimdall/internal/vars"
)

func compile(t testing.TB, src string) (*Expr, error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return Compile(doc.Content[0])
}

func ctx(path string, hdr ...string) *vars.Context {
	r := &httpcore.Request{}
	r.SetMethod([]byte("GET"))
	r.SetPath([]byte(path))
	r.SetAuthority([]byte("foo.com"))
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.AddString(hdr[i], hdr[i+1])
	}
	return &vars.Context{Req: r, RemoteAddr: []byte("10.1.2.3")}
}

func TestEval(t *testing.T) {
	for _, tc := range []struct {
		expr string
		path string
		hdr  []string
		want bool
	}{
		// The APISIX router docs' example: arg_name == json and arg_age > 18 and http_address ~~ China.*
		{`[["arg_name","==","json"],["arg_age",">",18],["arg_address","~~","China.*"]]`, "/?name=json&age=20&address=China.Beijing", nil, true},
		{`[["arg_name","==","json"],["arg_age",">",18],["arg_address","~~","China.*"]]`, "/?name=json&age=18&address=China.Beijing", nil, false},
		{`[["arg_name","==","json"],["arg_age",">",18],["arg_address","~~","China.*"]]`, "/?name=json&age=20&address=US", nil, false},
		{`[["arg_age",">=",18]]`, "/?age=18", nil, true},
		{`[["arg_age","<",18]]`, "/?age=x", nil, false},
		{`[["arg_age","<=",18]]`, "/?age=17.5", nil, true},
		{`[["arg_name","~=","json"]]`, "/?name=xml", nil, true},
		{`[["arg_name","~=","json"]]`, "/", nil, true},
		{`[["arg_name","==","json"]]`, "/", nil, false},
		{`[["arg_name","!","==","json"]]`, "/?name=xml", nil, true},
		{`[["http_x_user","~*","^ADMIN"]]`, "/", []string{"X-User", "admin-1"}, true},
		{`[["http_x_user","~~","^ADMIN"]]`, "/", []string{"X-User", "admin-1"}, false},
		{`[["http_x_user","IN",["a","b"]]]`, "/", []string{"X-User", "b"}, true},
		{`[["http_x_user","in",["a","b"]]]`, "/", []string{"X-User", "c"}, false},
		{`[["http_accept","HAS","json"]]`, "/", []string{"Accept", "xml, json"}, true},
		{`[["remote_addr","ipmatch",["10.0.0.0/8"]]]`, "/", nil, true},
		{`[["remote_addr","!","ipmatch",["192.168.0.1","::1"]]]`, "/", nil, true},
		{`[["OR",["arg_a","==","1"],["arg_b","==","1"]]]`, "/?b=1", nil, true},
		{`[["OR",["arg_a","==","1"],["arg_b","==","1"]]]`, "/?c=1", nil, false},
		{`["OR",["arg_a","==","1"],["AND",["arg_b","==","1"],["arg_c","==","1"]]]`, "/?b=1&c=1", nil, true},
		{`["OR",["arg_a","==","1"],["AND",["arg_b","==","1"],["arg_c","==","1"]]]`, "/?b=1", nil, false},
		{`["!AND",["arg_a","==","1"],["arg_b","==","1"]]`, "/?a=1", nil, true},
		{`["!OR",["arg_a","==","1"],["arg_b","==","1"]]`, "/?a=1", nil, false},
		{`["arg_a","==","1"]`, "/?a=1", nil, true},
		{`[["uri","~~","^/api/"],["host","==","foo.com"],["request_method","==","GET"]]`, "/api/x", nil, true},
		{`[["cookie_sid","==","abc"]]`, "/", []string{"Cookie", "x=1; sid=abc"}, true},
	} {
		e, err := compile(t, tc.expr)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		if got := e.Eval(ctx(tc.path, tc.hdr...)); got != tc.want {
			t.Errorf("%s on %s %v = %v, want %v", tc.expr, tc.path, tc.hdr, got, tc.want)
		}
	}
}

func TestNilIsTrue(t *testing.T) {
	for _, src := range []string{"null", "[]"} {
		e, err := compile(t, src)
		if err != nil || e != nil || !e.Eval(ctx("/")) {
			t.Errorf("%s: %v %v", src, e, err)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		src, msg  string
		line, col int
	}{
		{"[[\"arg_a\", \"=\", \"1\"]]", "unknown operator", 1, 12},
		{"[\n  [\"nope\", \"==\", \"1\"]]", "unknown variable", 2, 4},
		{"[[\"arg_a\", \"~~\", \"(\"]]", "invalid regular expression", 1, 18},
		{"[[\"arg_a\", \">\", \"x\"]]", "needs a number", 1, 17},
		{"[[\"arg_a\", \"IN\", \"x\"]]", "IN needs a list", 1, 18},
		{"[[\"arg_a\", \"==\"]]", "expected [variable", 1, 2},
		{"[[\"remote_addr\", \"ipmatch\", [\"300.1.1.1\"]]]", "ipmatch", 1, 30},
		{"{a: 1}", "expected a list", 1, 1},
		{"[\"OR\"]", "needs at least one", 1, 2},
	} {
		_, err := compile(t, tc.src)
		e, ok := err.(*Error)
		if !ok || !strings.Contains(e.Msg, tc.msg) || e.Line != tc.line || e.Column != tc.col {
			t.Errorf("%s: got %#v, want %q at %d:%d", tc.src, err, tc.msg, tc.line, tc.col)
		}
	}
}

func BenchmarkEval(b *testing.B) {
	e, err := compile(b, `[["arg_name","==","json"],["arg_age",">",18],["OR",["http_x_user","~~","^a"],["remote_addr","ipmatch",["10.0.0.0/8"]]]]`)
	if err != nil {
		b.Fatal(err)
	}
	c := ctx("/?name=json&age=20", "X-User", "bob")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !e.Eval(c) {
			b.Fatal("false")
		}
	}
}

func TestToNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{{"18", 18, true}, {"-3", -3, true}, {"1.5", 1.5, true}, {" 7 ", 7, true}, {"", 0, false}, {"-", 0, false}, {"1e3", 1000, true}, {"x1", 0, false}} {
		got, ok := toNumber([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("toNumber(%q) = %v,%v", tc.in, got, ok)
		}
	}
}
