package config

import (
	"errors"
	"strings"
	"testing"
)

func TestParseObjects(t *testing.T) {
	m, err := LoadMain("testdata/main.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const key = "/apisix/routes/7"
	tests := []struct {
		name, kind, id, data string
		want                 string // error text; "" = valid
	}{
		{"route json", KindRoutes, "7", `{"uri":"/a/*","upstream_id":"1","create_time":1700000000,"update_time":1700000001}`, ""},
		{"id from the key", KindRoutes, "7", `{"id":7,"uri":"/a","upstream":{"nodes":{"127.0.0.1:80":1}}}`, ""},
		{"id mismatch", KindRoutes, "7", `{"id":"8","uri":"/a","upstream_id":"1"}`,
			key + `: id: id "8" does not match the id "7" the object is stored under`},
		// The same message as apisix.yaml gives (routes_uri.golden), the
		// key in place of file:line:col.
		{"bad uri", KindRoutes, "7", `{"uri":"a/b","upstream_id":"1"}`,
			key + `: uri: uri "a/b" must start with /; allowed: "/exact" or "/prefix/*"`},
		{"unknown field", KindRoutes, "7", `{"uri":"/a","no_such_field":1}`,
			key + `: unknown field "no_such_field"; allowed: id, name, desc, uri, uris, methods, host, hosts, priority, vars, remote_addr, remote_addrs, filter_func, status, labels, upstream, upstream_id, service_id, plugin_config_id, plugins, create_time, update_time`},
		{"not json", KindRoutes, "7", `{"uri":`, key + `: invalid YAML: did not find expected node content`},
		{"not an object", KindRoutes, "7", `[1]`, key + `: expected an object, got a list`},
		{"upstream", KindUpstreams, "7", `{"nodes":[{"host":"127.0.0.1","port":80,"weight":1}],"type":"chash","key":"uri"}`, ""},
		{"bad upstream", KindUpstreams, "7", `{"nodes":{"127.0.0.1:80":1},"type":"rr"}`,
			key + `: type: unknown balancer "rr"; allowed: roundrobin, chash`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.kind == KindRoutes {
				var rt *Route
				rt, err = ParseRouteObject(key, tt.id, []byte(tt.data), m)
				if err == nil && rt.ID != tt.id {
					t.Errorf("id = %q", rt.ID)
				}
			} else {
				var u *Upstream
				u, err = ParseUpstreamObject(key, tt.id, []byte(tt.data))
				if err == nil && u.ID != tt.id {
					t.Errorf("id = %q", u.ID)
				}
			}
			got := ""
			if err != nil {
				got = err.Error()
				var errs Errors
				if !errors.As(err, &errs) {
					t.Errorf("error is %T, want Errors", err)
				}
			}
			if !strings.HasPrefix(got, tt.want) || (tt.want == "") != (got == "") {
				t.Errorf("error\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestLink(t *testing.T) {
	u, err := ParseUpstreamObject("/u/1", "1", []byte(`{"nodes":{"127.0.0.1:80":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	var routes []*Route
	for id, data := range map[string]string{
		"a": `{"uri":"/a","upstream_id":"1"}`,
		"b": `{"uri":"/b","upstream_id":"2"}`,
	} {
		rt, err := ParseRouteObject("/r/"+id, id, []byte(data), nil)
		if err != nil {
			t.Fatal(err)
		}
		routes = append(routes, rt)
	}
	r, errs := Link("etcd", Objects{Routes: routes, Upstreams: []*Upstream{u}}, map[string]string{"a": "/r/a", "b": "/r/b"})
	if len(r.Routes) != 1 || r.Routes[0].ID != "a" || r.Routes[0].Upstream != u {
		t.Errorf("routes = %+v", r.Routes)
	}
	if len(errs) != 1 || errs[0].Error() != `/r/b: upstream_id: upstream "2" not found in upstreams` {
		t.Errorf("errs = %v", errs)
	}
	for _, rt := range routes {
		if rt.Upstream != nil {
			t.Errorf("Link modified its input route %s", rt.ID)
		}
	}
}
