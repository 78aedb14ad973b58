package vars

import (
	"testing"

	"github.com/heimdallgw/heimdall/internal/httpcore"
)

func newCtx() *Context {
	r := &httpcore.Request{}
	r.SetMethod([]byte("GET"))
	r.SetPath([]byte("/a/b?name=json&Age=18&empty=&flag"))
	r.SetAuthority([]byte("Example.com:8080"))
	r.SetScheme([]byte("https"))
	r.Header.AddString("X-Forwarded-For", "1.2.3.4")
	r.Header.AddString("Cookie", "a=1; sid=xyz")
	return &Context{Req: r, RemoteAddr: []byte("127.0.0.1"), RemotePort: []byte("5555"),
		ServerAddr: []byte("127.0.0.2"), ServerPort: []byte("9080"), RouteID: "r1"}
}

func TestGet(t *testing.T) {
	c := newCtx()
	for _, tc := range []struct {
		name, want string
		ok         bool
	}{
		{"uri", "/a/b", true},
		{"request_uri", "/a/b?name=json&Age=18&empty=&flag", true},
		{"host", "Example.com", true},
		{"args", "name=json&Age=18&empty=&flag", true},
		{"query_string", "name=json&Age=18&empty=&flag", true},
		{"arg_name", "json", true},
		{"arg_age", "18", true},
		{"arg_empty", "", true},
		{"arg_flag", "", true},
		{"arg_missing", "", false},
		{"http_x_forwarded_for", "1.2.3.4", true},
		{"http_X_Forwarded_For", "1.2.3.4", true},
		{"http_host", "Example.com:8080", true},
		{"http_nope", "", false},
		{"cookie_sid", "xyz", true},
		{"cookie_a", "1", true},
		{"cookie_b", "", false},
		{"remote_addr", "127.0.0.1", true},
		{"remote_port", "5555", true},
		{"server_addr", "127.0.0.2", true},
		{"server_port", "9080", true},
		{"scheme", "https", true},
		{"request_method", "GET", true},
		{"route_id", "r1", true},
		{"service_id", "", false},
	} {
		v, err := Parse(tc.name)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, ok := c.Get(v)
		if string(got) != tc.want || ok != tc.ok {
			t.Errorf("$%s = %q,%v; want %q,%v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	c.URI = []byte("/normalised")
	v, _ := Parse("uri")
	if got, _ := c.Get(v); string(got) != "/normalised" {
		t.Errorf("uri with URI set = %q", got)
	}
}

func TestParseUnknown(t *testing.T) {
	for _, n := range []string{"nope", "arg_", "http_", "request_body"} {
		if _, err := Parse(n); err == nil {
			t.Errorf("Parse(%q) accepted", n)
		}
	}
}

func TestTemplate(t *testing.T) {
	c := newCtx()
	for _, tc := range []struct{ src, want string }{
		{"/static", "/static"},
		{"/v2$uri", "/v2/a/b"},
		{"$uri?n=$arg_name", "/a/b?n=json"},
		{"${arg_name}x", "jsonx"},
		{"$arg_missing-", "-"},
		{`price \$5`, "price $5"},
		{"$remote_addr:$remote_port", "127.0.0.1:5555"},
		{"a$", "a$"},
	} {
		tp, err := CompileTemplate(tc.src)
		if err != nil {
			t.Fatalf("%q: %v", tc.src, err)
		}
		if got := string(tp.Append(nil, c)); got != tc.want {
			t.Errorf("%q -> %q, want %q", tc.src, got, tc.want)
		}
	}
	for _, bad := range []string{"$nope", "${uri"} {
		if _, err := CompileTemplate(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if tp, _ := CompileTemplate("/x"); !tp.Static {
		t.Error("static template not marked Static")
	}
}

func BenchmarkTemplate(b *testing.B) {
	c := newCtx()
	tp, _ := CompileTemplate("/v2$uri?n=$arg_name&h=$http_x_forwarded_for")
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = tp.Append(buf[:0], c)
	}
}
