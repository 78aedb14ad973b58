package proxyrewrite

import (
	"regexp"
	"testing"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/filter"
)

func TestRewrite(t *testing.T) {
	re := regexp.MustCompile(`^/httpbin/(.*)`)
	tests := []struct {
		name       string
		cfg        config.ProxyRewrite
		path       string
		wantPath   string
		wantHost   string
		wantMethod string
		check      func(t *testing.T, x *filter.Exchange)
	}{
		{name: "regex strips prefix, keeps query", cfg: config.ProxyRewrite{RegexURI: []config.RegexURI{{Regex: re, Template: "/${1}"}}},
			path: "/httpbin/get?a=1", wantPath: "/get?a=1"},
		{name: "regex no match", cfg: config.ProxyRewrite{RegexURI: []config.RegexURI{{Regex: re, Template: "/${1}"}}},
			path: "/other", wantPath: "/other"},
		{name: "uri wins, query appended", cfg: config.ProxyRewrite{URI: "/new?x=1", RegexURI: []config.RegexURI{{Regex: re, Template: "/${1}"}}},
			path: "/httpbin/get?a=1", wantPath: "/new?x=1&a=1"},
		{name: "host and method", cfg: config.ProxyRewrite{Host: "up.example", Method: "post"},
			path: "/", wantPath: "/", wantHost: "up.example", wantMethod: "POST"},
		{name: "headers", cfg: config.ProxyRewrite{Headers: config.HeaderRewrite{
			Set: []config.Header{{Name: "X-Api", Value: "v2"}, {Name: "X-Gone", Value: ""}},
			Add: []config.Header{{Name: "X-Trace", Value: "1"}}, Remove: []string{"X-Debug"}}},
			path: "/", wantPath: "/", check: func(t *testing.T, x *filter.Exchange) {
				if v, _ := x.Req.Header.Get("x-api"); string(v) != "v2" {
					t.Errorf("x-api = %q", v)
				}
				n := 0
				x.Req.Header.Values("x-trace", func([]byte) { n++ })
				if n != 2 {
					t.Errorf("x-trace values = %d, want 2", n)
				}
				for _, h := range []string{"x-debug", "x-gone"} {
					if x.Req.Header.Has(h) {
						t.Errorf("%s not removed", h)
					}
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(&tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			var x filter.Exchange
			x.Req.SetMethod([]byte("GET"))
			x.Req.SetPath([]byte(tt.path))
			x.Req.SetAuthority([]byte("client.example"))
			x.Req.Header.AddString("x-api", "v1")
			x.Req.Header.AddString("x-trace", "0")
			x.Req.Header.AddString("x-debug", "1")
			x.Req.Header.AddString("x-gone", "1")
			c, err := filter.NewChain(&x, []filter.Factory{p}, filter.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Done()
			if err := c.RequestHeaders(t.Context(), true); err != nil {
				t.Fatal(err)
			}
			if got := string(x.Req.Path); got != tt.wantPath {
				t.Errorf("path = %q, want %q", got, tt.wantPath)
			}
			wantHost := tt.wantHost
			if wantHost == "" {
				wantHost = "client.example"
			}
			if got := string(x.Req.Authority); got != wantHost {
				t.Errorf("host = %q, want %q", got, wantHost)
			}
			wantMethod := tt.wantMethod
			if wantMethod == "" {
				wantMethod = "GET"
			}
			if got := string(x.Req.Method); got != wantMethod {
				t.Errorf("method = %q, want %q", got, wantMethod)
			}
			if tt.check != nil {
				tt.check(t, &x)
			}
		})
	}
}
