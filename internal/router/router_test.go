package router

import (
	"fmt"
	"testing"
)

func TestMatch(t *testing.T) {
	routes := []Route[string]{
		{ID: "root", URIs: []string{"/*"}},
		{ID: "api", URIs: []string{"/api/*"}},
		{ID: "api-v1", URIs: []string{"/api/v1/*"}},
		{ID: "api-v1-users", URIs: []string{"/api/v1/users"}},
		{ID: "blog-prefix", URIs: []string{"/blog*"}},
		{ID: "low", URIs: []string{"/prio/*"}, Priority: 1},
		{ID: "high", URIs: []string{"/prio/*"}, Priority: 10},
		{ID: "post-only", URIs: []string{"/m"}, Methods: []string{"POST", "PUT"}, Priority: 5},
		{ID: "any-method", URIs: []string{"/m"}},
		{ID: "get-only", URIs: []string{"/get-only"}, Methods: []string{"GET"}},
		{ID: "host-exact", URIs: []string{"/h/*"}, Hosts: []string{"api.example.com"}, Priority: 2},
		{ID: "host-wild", URIs: []string{"/h/*"}, Hosts: []string{"*.example.com"}, Priority: 1},
		{ID: "host-none", URIs: []string{"/h/*"}},
		{ID: "uris", URIs: []string{"/one", "/two/*"}},
		{ID: "slash-exact", URIs: []string{"/trail/"}},
		{ID: "noslash-exact", URIs: []string{"/trail"}},
		{ID: "only-host", URIs: []string{"/only/*"}, Hosts: []string{"a.test"}},
		{ID: "tie-first", URIs: []string{"/tie"}},
		{ID: "tie-second", URIs: []string{"/tie"}},
	}
	r, err := New(routes)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, host, path, want string
	}{
		{"root catch-all", "GET", "x", "/", "root"},
		{"root catch-all deep", "GET", "x", "/nothing/here", "root"},
		{"prefix", "GET", "x", "/api/x", "api"},
		{"prefix with trailing slash only", "GET", "x", "/api/", "api"},
		{"prefix does not match without slash", "GET", "x", "/api", "root"},
		{"longer prefix wins", "GET", "x", "/api/v1/things", "api-v1"},
		{"exact beats prefix", "GET", "x", "/api/v1/users", "api-v1-users"},
		{"exact is exact", "GET", "x", "/api/v1/users/1", "api-v1"},
		{"prefix without slash matches itself", "GET", "x", "/blog", "blog-prefix"},
		{"prefix without slash matches longer", "GET", "x", "/blogger", "blog-prefix"},
		{"higher priority first", "GET", "x", "/prio/a", "high"},
		{"method restricted route", "POST", "x", "/m", "post-only"},
		{"method falls through to same path", "GET", "x", "/m", "any-method"},
		{"method mismatch falls back to shorter prefix", "POST", "x", "/get-only", "root"},
		{"unknown method only matches any-method routes", "BREW", "x", "/m", "any-method"},
		{"host exact", "GET", "api.example.com", "/h/1", "host-exact"},
		{"host case and port ignored", "GET", "API.Example.COM:8443", "/h/1", "host-exact"},
		{"host wildcard", "GET", "www.example.com", "/h/1", "host-wild"},
		{"host wildcard deep", "GET", "a.b.example.com", "/h/1", "host-wild"},
		{"wildcard does not match apex", "GET", "example.com", "/h/1", "host-none"},
		{"no host restriction", "GET", "other.org", "/h/1", "host-none"},
		{"host mismatch falls back to root", "GET", "b.test", "/only/x", "root"},
		{"host match", "GET", "a.test.", "/only/x", "only-host"},
		{"uris exact", "GET", "x", "/one", "uris"},
		{"uris prefix", "GET", "x", "/two/three", "uris"},
		{"trailing slash exact", "GET", "x", "/trail/", "slash-exact"},
		{"no trailing slash exact", "GET", "x", "/trail", "noslash-exact"},
		{"declaration order breaks ties", "GET", "x", "/tie", "tie-first"},
		{"ipv6 host with port", "GET", "[::1]:80", "/h/1", "host-none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.Match(tt.method, tt.host, tt.path)
			if got == nil || got.ID != tt.want {
				t.Errorf("Match(%s, %s, %s) = %v, want %s", tt.method, tt.host, tt.path, got, tt.want)
			}
			if gotB := r.MatchBytes([]byte(tt.method), []byte(tt.host), []byte(tt.path)); gotB != got {
				t.Errorf("MatchBytes differs from Match")
			}
		})
	}
}

func TestNoMatch(t *testing.T) {
	r, err := New([]Route[int]{{ID: "a", URIs: []string{"/a"}, Value: 1}, {ID: "b", URIs: []string{"/b/*"}, Hosts: []string{"b.test"}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, host, path string }{
		{"other path", "x", "/c"},
		{"exact is not prefix", "x", "/a/b"},
		{"host restricted", "x", "/b/1"},
		{"empty path", "x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.Match("GET", tt.host, tt.path); got != nil {
				t.Errorf("Match(%q, %q) = %s, want no match", tt.host, tt.path, got.ID)
			}
		})
	}
	var zero *Router[int]
	if zero.Match("GET", "x", "/a") != nil {
		t.Error("nil router matched")
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name  string
		route Route[int]
	}{
		{"no uri", Route[int]{ID: "1"}},
		{"relative uri", Route[int]{ID: "1", URIs: []string{"a"}}},
		{"star in middle", Route[int]{ID: "1", URIs: []string{"/a/*/b"}}},
		{"bad method", Route[int]{ID: "1", URIs: []string{"/"}, Methods: []string{"get"}}},
		{"bad wildcard", Route[int]{ID: "1", URIs: []string{"/"}, Hosts: []string{"*example.com"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New([]Route[int]{tt.route}); err == nil {
				t.Error("New succeeded; want an error")
			}
		})
	}
}

func TestImmutable(t *testing.T) {
	routes := []Route[int]{{ID: "a", URIs: []string{"/a"}, Hosts: []string{"a.test"}, Value: 7}}
	r, err := New(routes)
	if err != nil {
		t.Fatal(err)
	}
	routes[0].URIs[0] = "/changed"
	routes[0].Hosts[0] = "b.test"
	routes[0].Value = 8
	got := r.Match("GET", "a.test", "/a")
	if got == nil || got.Value != 7 {
		t.Fatalf("router changed with its input: %+v", got)
	}
}

func TestMatchAllocs(t *testing.T) {
	r := benchRouter(t)
	method, host, path := []byte("GET"), []byte("svc42.example.com:8080"), []byte("/svc/42/items/7")
	allocs := testing.AllocsPerRun(1000, func() {
		if r.MatchBytes(method, host, path) == nil {
			t.Fatal("no match")
		}
	})
	if allocs != 0 {
		t.Errorf("MatchBytes allocates %.1f times per call, want 0", allocs)
	}
}

// benchRouter builds a router with a realistic mix: 100 services, each with
// an exact route, a prefix route and a host-restricted prefix route.
func benchRouter(tb testing.TB) *Router[int] {
	var routes []Route[int]
	for i := 0; i < 100; i++ {
		routes = append(routes,
			Route[int]{ID: fmt.Sprintf("e%d", i), URIs: []string{fmt.Sprintf("/svc/%d/health", i)}, Methods: []string{"GET"}},
			Route[int]{ID: fmt.Sprintf("p%d", i), URIs: []string{fmt.Sprintf("/svc/%d/*", i)}, Priority: i % 3},
			Route[int]{ID: fmt.Sprintf("h%d", i), URIs: []string{fmt.Sprintf("/svc/%d/items/*", i)}, Hosts: []string{fmt.Sprintf("svc%d.example.com", i), "*.internal"}},
		)
	}
	routes = append(routes, Route[int]{ID: "root", URIs: []string{"/*"}})
	r, err := New(routes)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func BenchmarkMatch(b *testing.B) {
	r := benchRouter(b)
	cases := []struct{ name, method, host, path string }{
		{"exact", "GET", "a.test", "/svc/42/health"},
		{"prefix-host", "GET", "svc42.example.com:8080", "/svc/42/items/7"},
		{"fallback-root", "POST", "a.test", "/unknown/path/with/segments"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			method, host, path := []byte(c.method), []byte(c.host), []byte(c.path)
			b.ReportAllocs()
			for b.Loop() {
				if r.MatchBytes(method, host, path) == nil {
					b.Fatal("no match")
				}
			}
		})
	}
}
