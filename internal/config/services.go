package config

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Service is an entry of `services` (apisix.yaml) or an etcd service: what
// several routes share. A route with service_id inherits the service's
// upstream (unless it has its own), hosts (unless it lists some) and
// plugins (its own, then its plugin_config's, win by plugin name), as in
// APISIX.
type Service struct {
	ID     string
	Name   string
	Desc   string
	Labels map[string]string
	Hosts  []string
	// UpstreamID names an upstream; Upstream is the inline one or, once
	// linked, the one UpstreamID names.
	UpstreamID      string
	Upstream        *Upstream
	ProxyRewrite    *ProxyRewrite
	LimitCount      *LimitCount
	IPRestriction   *IPRestriction
	CORS            *CORS
	ResponseRewrite *ResponseRewrite
	Redirect        *Redirect
	RealIP          *RealIP
	Wasm            []RouteWasm

	Line, Column int
}

// PluginConfig is an entry of `plugin_configs`: a set of plugins a route
// takes with plugin_config_id. The route's own plugins win by name.
type PluginConfig struct {
	ID              string
	Desc            string
	Labels          map[string]string
	ProxyRewrite    *ProxyRewrite
	LimitCount      *LimitCount
	IPRestriction   *IPRestriction
	CORS            *CORS
	ResponseRewrite *ResponseRewrite
	Redirect        *Redirect
	RealIP          *RealIP
	Wasm            []RouteWasm

	Line, Column int
}

// decodeService decodes a service. upstreams resolves upstream_id (nil: an
// object on its own, resolved by Link).
func (d *decoder) decodeService(n *yaml.Node, path string, m *Main, enabled []string, upstreams map[string]*Upstream) *Service {
	n = resolve(n)
	s := &Service{Line: n.Line, Column: n.Column}
	plugins := &Route{} // decodeRoutePlugins fills ProxyRewrite and Wasm
	var upstreamNode, idNode *yaml.Node
	var upstreamPath, idPath string
	before := len(d.errs)
	ok := d.mapping(n, path,
		field{"id", func(v *yaml.Node, p string) { s.ID, _ = d.id(v, p) }},
		field{"name", func(v *yaml.Node, p string) { s.Name, _ = d.str(v, p) }},
		field{"desc", func(v *yaml.Node, p string) { s.Desc, _ = d.str(v, p) }},
		field{"labels", func(v *yaml.Node, p string) { s.Labels = d.labels(v, p) }},
		field{"hosts", func(v *yaml.Node, p string) {
			items, _ := d.sequence(v, p)
			for i, it := range items {
				if h, ok := d.str(it, index(p, i)); ok && d.checkHost(it, index(p, i), h) {
					s.Hosts = append(s.Hosts, strings.ToLower(h))
				}
			}
		}},
		field{"upstream", func(v *yaml.Node, p string) { upstreamNode, upstreamPath = v, p }},
		field{"upstream_id", func(v *yaml.Node, p string) {
			if id, ok := d.id(v, p); ok {
				s.UpstreamID, idNode, idPath = id, resolve(v), p
			}
		}},
		field{"plugins", func(v *yaml.Node, p string) { d.decodeRoutePlugins(v, p, plugins, m, enabled) }},
		d.timestamp("create_time"), d.timestamp("update_time"),
	)
	if !ok {
		return nil
	}
	if s.ID == "" && !hasKey(n, "id") {
		d.requireMissing(n, path, "id")
	}
	switch {
	case upstreamNode != nil && idNode != nil:
		d.errorf(idNode, idPath, "set either upstream or upstream_id, not both")
	case upstreamNode != nil:
		s.Upstream = d.decodeUpstream(upstreamNode, upstreamPath, false)
	case idNode != nil && upstreams != nil:
		u, found := upstreams[s.UpstreamID]
		if !found {
			d.errorf(idNode, idPath, "upstream %q not found in upstreams", s.UpstreamID)
		}
		s.Upstream = u
	}
	s.ProxyRewrite, s.LimitCount, s.IPRestriction, s.CORS, s.Wasm = plugins.ProxyRewrite, plugins.LimitCount, plugins.IPRestriction, plugins.CORS, plugins.Wasm
	s.ResponseRewrite, s.Redirect, s.RealIP = plugins.ResponseRewrite, plugins.Redirect, plugins.RealIP
	if len(d.errs) > before {
		return nil
	}
	return s
}

func (d *decoder) decodePluginConfig(n *yaml.Node, path string, m *Main, enabled []string) *PluginConfig {
	n = resolve(n)
	pc := &PluginConfig{Line: n.Line, Column: n.Column}
	plugins := &Route{}
	before := len(d.errs)
	ok := d.mapping(n, path,
		field{"id", func(v *yaml.Node, p string) { pc.ID, _ = d.id(v, p) }},
		field{"desc", func(v *yaml.Node, p string) { pc.Desc, _ = d.str(v, p) }},
		field{"labels", func(v *yaml.Node, p string) { pc.Labels = d.labels(v, p) }},
		field{"plugins", func(v *yaml.Node, p string) { d.decodeRoutePlugins(v, p, plugins, m, enabled) }},
		d.timestamp("create_time"), d.timestamp("update_time"),
	)
	if !ok {
		return nil
	}
	if pc.ID == "" && !hasKey(n, "id") {
		d.requireMissing(n, path, "id")
	}
	if !hasKey(n, "plugins") {
		d.errorf(n, join(path, "plugins"), "required")
	}
	pc.ProxyRewrite, pc.LimitCount, pc.IPRestriction, pc.CORS, pc.Wasm = plugins.ProxyRewrite, plugins.LimitCount, plugins.IPRestriction, plugins.CORS, plugins.Wasm
	pc.ResponseRewrite, pc.Redirect, pc.RealIP = plugins.ResponseRewrite, plugins.Redirect, plugins.RealIP
	if len(d.errs) > before {
		return nil
	}
	return pc
}

func (d *decoder) labels(n *yaml.Node, path string) map[string]string {
	keys, values, _ := d.pairs(n, path)
	var out map[string]string
	for i, k := range keys {
		if s, ok := d.text(values[i], join(path, k.Value)); ok {
			if out == nil {
				out = map[string]string{}
			}
			out[k.Value] = s
		}
	}
	return out
}

// compose returns rt with what its service and plugin config give it (a
// copy when anything changes), or the field and problem that keep it from
// being served. upstreams resolves a service's upstream_id when the
// service has not been linked (etcd); nil when services carry Upstream.
func compose(rt *Route, services map[string]*Service, pcs map[string]*PluginConfig, upstreams map[string]*Upstream) (*Route, string, string) {
	if rt.ServiceID == "" && rt.PluginConfigID == "" {
		return rt, "", ""
	}
	c := *rt
	var svc *Service
	if rt.ServiceID != "" {
		svc = services[rt.ServiceID]
		if svc == nil {
			return nil, "service_id", fmt.Sprintf("service %q not found in services", rt.ServiceID)
		}
	}
	var pc *PluginConfig
	if rt.PluginConfigID != "" {
		pc = pcs[rt.PluginConfigID]
		if pc == nil {
			return nil, "plugin_config_id", fmt.Sprintf("plugin config %q not found in plugin_configs", rt.PluginConfigID)
		}
	}
	if c.Upstream == nil && c.UpstreamID == "" && svc != nil {
		c.Upstream = svc.Upstream
		if c.Upstream == nil && svc.UpstreamID != "" {
			c.Upstream = upstreams[svc.UpstreamID]
			if c.Upstream == nil {
				return nil, "service_id", fmt.Sprintf("service %q: upstream %q not found in upstreams", svc.ID, svc.UpstreamID)
			}
		}
		if c.Upstream == nil {
			return nil, "service_id", fmt.Sprintf("service %q has no upstream and the route none of its own", svc.ID)
		}
	}
	if len(c.Hosts) == 0 && svc != nil {
		c.Hosts = svc.Hosts
	}
	// Plugins: the route's, then the plugin config's, then the service's,
	// the first one of a name winning (APISIX's merge order).
	have := map[string]bool{}
	var wasm []RouteWasm
	addWasm := func(ws []RouteWasm) {
		for _, w := range ws {
			if !have[w.Name] {
				have[w.Name] = true
				wasm = append(wasm, w)
			}
		}
	}
	addWasm(rt.Wasm)
	if pc != nil {
		addWasm(pc.Wasm)
		if c.ProxyRewrite == nil {
			c.ProxyRewrite = pc.ProxyRewrite
		}
		if c.LimitCount == nil {
			c.LimitCount = pc.LimitCount
		}
		if c.IPRestriction == nil {
			c.IPRestriction = pc.IPRestriction
		}
		if c.CORS == nil {
			c.CORS = pc.CORS
		}
		if c.ResponseRewrite == nil {
			c.ResponseRewrite = pc.ResponseRewrite
		}
		if c.Redirect == nil {
			c.Redirect = pc.Redirect
		}
		if c.RealIP == nil {
			c.RealIP = pc.RealIP
		}
	}
	if svc != nil {
		addWasm(svc.Wasm)
		if c.ProxyRewrite == nil {
			c.ProxyRewrite = svc.ProxyRewrite
		}
		if c.LimitCount == nil {
			c.LimitCount = svc.LimitCount
		}
		if c.IPRestriction == nil {
			c.IPRestriction = svc.IPRestriction
		}
		if c.CORS == nil {
			c.CORS = svc.CORS
		}
		if c.ResponseRewrite == nil {
			c.ResponseRewrite = svc.ResponseRewrite
		}
		if c.Redirect == nil {
			c.Redirect = svc.Redirect
		}
		if c.RealIP == nil {
			c.RealIP = svc.RealIP
		}
	}
	sort.SliceStable(wasm, func(i, j int) bool {
		a, b := wasm[i].Plugin, wasm[j].Plugin
		if a.Priority != b.Priority {
			return a.Priority > b.Priority
		}
		return a.Name < b.Name
	})
	c.Wasm = wasm
	return &c, "", ""
}

// ParseServiceObject is ParseUpstreamObject for a service.
func ParseServiceObject(source, id string, data []byte, m *Main) (*Service, error) {
	d, root, err := objectRoot(source, id, data)
	if err != nil {
		return nil, err
	}
	s := d.decodeService(root, "", m, nil, nil)
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	return s, nil
}

// ParsePluginConfigObject is ParseUpstreamObject for a plugin config.
func ParsePluginConfigObject(source, id string, data []byte, m *Main) (*PluginConfig, error) {
	d, root, err := objectRoot(source, id, data)
	if err != nil {
		return nil, err
	}
	pc := d.decodePluginConfig(root, "", m, nil)
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	return pc, nil
}

// decodeShared decodes the services and plugin_configs sections of
// apisix.yaml (services resolve their upstream_id against upstreams) and
// returns them by id.
func (d *decoder) decodeShared(servicesNode, pcsNode *yaml.Node, m *Main, r *Routes, upstreams map[string]*Upstream) (map[string]*Service, map[string]*PluginConfig) {
	services := map[string]*Service{}
	if servicesNode != nil {
		items, _ := d.sequence(servicesNode, "services")
		for i, it := range items {
			p := index("services", i)
			s := d.decodeService(it, p, m, r.EnabledPlugins, upstreams)
			if s == nil {
				continue
			}
			if services[s.ID] != nil {
				d.errorf(resolve(it), join(p, "id"), "duplicate service id %q", s.ID)
				continue
			}
			services[s.ID] = s
			r.Services = append(r.Services, s)
		}
	}
	pcs := map[string]*PluginConfig{}
	if pcsNode != nil {
		items, _ := d.sequence(pcsNode, "plugin_configs")
		for i, it := range items {
			p := index("plugin_configs", i)
			pc := d.decodePluginConfig(it, p, m, r.EnabledPlugins)
			if pc == nil {
				continue
			}
			if pcs[pc.ID] != nil {
				d.errorf(resolve(it), join(p, "id"), "duplicate plugin config id %q", pc.ID)
				continue
			}
			pcs[pc.ID] = pc
			r.PluginConfigs = append(r.PluginConfigs, pc)
		}
	}
	return services, pcs
}
