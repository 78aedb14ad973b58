package config

import (
	"fmt"
	"testing"
)

func wasmConfs(rt *Route) string {
	out := ""
	for _, w := range rt.Wasm {
		out += fmt.Sprintf("%s=%s ", w.Name, w.Conf)
	}
	return out
}

// TestServicesAndPluginConfigs: a route takes upstream, hosts and plugins
// from its service and plugin config; its own win, then the plugin
// config's, then the service's (APISIX's merge order), in apisix.yaml and
// for objects linked one by one (etcd) alike.
func TestServicesAndPluginConfigs(t *testing.T) {
	m, err := LoadMain("testdata/main.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const file = `routes:
  - id: inherit
    uri: /a
    service_id: s
  - id: override
    uri: /b
    service_id: s
    plugin_config_id: p
    hosts: [own.example]
    upstream_id: u2
    plugins:
      heimdall: {conf: route}
services:
  - id: s
    hosts: [svc.example]
    upstream_id: u1
    plugins:
      heimdall: {conf: service}
      auth: {conf: service}
      proxy-rewrite: {uri: /svc}
plugin_configs:
  - id: p
    plugins:
      auth: {conf: pc}
upstreams:
  - {id: u1, nodes: {"127.0.0.1:1": 1}}
  - {id: u2, nodes: {"127.0.0.1:2": 1}}
#END
`
	check := func(t *testing.T, byID map[string]*Route) {
		t.Helper()
		a, b := byID["inherit"], byID["override"]
		if a == nil || b == nil {
			t.Fatalf("routes = %v", byID)
		}
		if a.Upstream.ID != "u1" || a.Hosts[0] != "svc.example" || wasmConfs(a) != "auth=service heimdall=service " || a.ProxyRewrite.URI != "/svc" {
			t.Errorf("inherit: upstream %s hosts %v wasm %s rewrite %+v", a.Upstream.ID, a.Hosts, wasmConfs(a), a.ProxyRewrite)
		}
		if b.Upstream.ID != "u2" || b.Hosts[0] != "own.example" || wasmConfs(b) != "auth=pc heimdall=route " || b.ProxyRewrite.URI != "/svc" {
			t.Errorf("override: upstream %s hosts %v wasm %s", b.Upstream.ID, b.Hosts, wasmConfs(b))
		}
	}
	t.Run("apisix.yaml", func(t *testing.T) {
		r, err := ParseRoutes("apisix.yaml", []byte(file), m)
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string]*Route{}
		for _, rt := range r.Routes {
			byID[rt.ID] = rt
		}
		check(t, byID)
		if len(r.Services) != 1 || len(r.PluginConfigs) != 1 {
			t.Errorf("services %d, plugin configs %d", len(r.Services), len(r.PluginConfigs))
		}
	})
	t.Run("objects", func(t *testing.T) {
		var objs Objects
		parse := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		for id, v := range map[string]string{
			"inherit":  `{"uri":"/a","service_id":"s"}`,
			"override": `{"uri":"/b","service_id":"s","plugin_config_id":"p","hosts":["own.example"],"upstream_id":"u2","plugins":{"heimdall":{"conf":"route"}}}`,
		} {
			rt, err := ParseRouteObject("/r/"+id, id, []byte(v), m)
			parse(err)
			objs.Routes = append(objs.Routes, rt)
		}
		s, err := ParseServiceObject("/s/s", "s", []byte(`{"hosts":["svc.example"],"upstream_id":"u1","plugins":{"heimdall":{"conf":"service"},"auth":{"conf":"service"},"proxy-rewrite":{"uri":"/svc"}}}`), m)
		parse(err)
		pc, err := ParsePluginConfigObject("/p/p", "p", []byte(`{"plugins":{"auth":{"conf":"pc"}}}`), m)
		parse(err)
		for _, id := range []string{"u1", "u2"} {
			u, err := ParseUpstreamObject("/u/"+id, id, []byte(`{"nodes":{"127.0.0.1:1":1}}`))
			parse(err)
			objs.Upstreams = append(objs.Upstreams, u)
		}
		objs.Services, objs.PluginConfigs = []*Service{s}, []*PluginConfig{pc}
		r, errs := Link("etcd", objs, nil)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		byID := map[string]*Route{}
		for _, rt := range r.Routes {
			byID[rt.ID] = rt
		}
		check(t, byID)
		if s.Upstream != nil {
			t.Error("Link modified its input service")
		}

		// A missing service keeps the route out, with the reason.
		objs.Services = nil
		r, errs = Link("etcd", objs, map[string]string{"inherit": "/r/inherit", "override": "/r/override"})
		if len(r.Routes) != 0 || len(errs) != 2 || errs[0].Msg != `service "s" not found in services` {
			t.Errorf("routes %d, errs %v", len(r.Routes), errs)
		}
	})
}
