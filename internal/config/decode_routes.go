package config

import (
	"bytes"
	"encoding/json"
	"math"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/heimdallgw/heimdall/internal/expr"
)

// httpMethods are the methods a route may list (those APISIX accepts).
var httpMethods = []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PURGE"}

// chashVars are the nginx variables accepted as a chash key with hash_on
// vars, besides the arg_, http_ and cookie_ families.
var chashVars = []string{"remote_addr", "remote_port", "uri", "request_uri", "host", "server_name", "server_addr", "query_string", "scheme"}

func (d *decoder) decodeRoutes(root *yaml.Node, m *Main) *Routes {
	r := &Routes{}
	var routesNode, upstreamsNode, pluginsNode, servicesNode, pcsNode, streamNode *yaml.Node
	if root != nil {
		d.mapping(root, "",
			field{"routes", func(v *yaml.Node, _ string) { routesNode = v }},
			field{"upstreams", func(v *yaml.Node, _ string) { upstreamsNode = v }},
			field{"plugins", func(v *yaml.Node, _ string) { pluginsNode = v }},
			field{"services", func(v *yaml.Node, _ string) { servicesNode = v }},
			field{"plugin_configs", func(v *yaml.Node, _ string) { pcsNode = v }},
			field{"stream_routes", func(v *yaml.Node, _ string) { streamNode = v }},
		)
	}
	// Upstreams and the plugin list first: routes refer to both.
	byID := map[string]*Upstream{}
	if upstreamsNode != nil {
		items, _ := d.sequence(upstreamsNode, "upstreams")
		for i, it := range items {
			p := index("upstreams", i)
			u := d.decodeUpstream(it, p, true)
			if u == nil {
				continue
			}
			if u.ID != "" {
				if _, dup := byID[u.ID]; dup {
					d.errorf(resolve(it), join(p, "id"), "duplicate upstream id %q", u.ID)
					continue
				}
				byID[u.ID] = u
			}
			r.Upstreams = append(r.Upstreams, u)
		}
	}
	if pluginsNode != nil {
		r.EnabledPlugins = d.decodePluginList(pluginsNode, "plugins", m)
		if r.EnabledPlugins == nil {
			r.EnabledPlugins = []string{}
		}
	}
	services, pcs := d.decodeShared(servicesNode, pcsNode, m, r, byID)
	if routesNode != nil {
		items, _ := d.sequence(routesNode, "routes")
		ids := map[string]bool{}
		for i, it := range items {
			p := index("routes", i)
			rt := d.decodeRoute(it, p, m, r.EnabledPlugins, byID)
			if rt == nil {
				continue
			}
			composed, field, msg := compose(rt, services, pcs, nil)
			if composed == nil {
				d.errorf(resolve(it), join(p, field), "%s", msg)
				continue
			}
			rt = composed
			if ids[rt.ID] {
				d.errorf(resolve(it), join(p, "id"), "duplicate route id %q", rt.ID)
				continue
			}
			ids[rt.ID] = true
			r.Routes = append(r.Routes, rt)
		}
	}
	if streamNode != nil {
		items, _ := d.sequence(streamNode, "stream_routes")
		ids := map[string]bool{}
		for i, it := range items {
			p := index("stream_routes", i)
			sr := d.decodeStreamRoute(it, p, byID)
			if sr == nil {
				continue
			}
			if ids[sr.ID] {
				d.errorf(resolve(it), join(p, "id"), "duplicate stream route id %q", sr.ID)
				continue
			}
			ids[sr.ID] = true
			r.StreamRoutes = append(r.StreamRoutes, sr)
		}
	}
	return r
}

// decodePluginList decodes the optional `plugins` section: a list of
// {name: ...} (APISIX also allows stream: true for stream plugins, which
// Heimdall does not have).
func (d *decoder) decodePluginList(n *yaml.Node, path string, m *Main) []string {
	items, _ := d.sequence(n, path)
	var out []string
	for i, it := range items {
		p := index(path, i)
		var name string
		d.mapping(it, p, field{"name", func(v *yaml.Node, p string) {
			s, ok := d.str(v, p)
			if !ok {
				return
			}
			if !d.knownPlugin(s, m) {
				d.errorf(resolve(v), p, "unknown plugin %q; allowed: %s", s, strings.Join(pluginNames(m), ", "))
				return
			}
			name = s
		}})
		if name == "" {
			d.requireMissing(it, p, "name")
			continue
		}
		out = append(out, name)
	}
	return out
}

func (d *decoder) knownPlugin(name string, m *Main) bool {
	if isBuiltin(name) {
		return true
	}
	if m != nil {
		_, ok := m.Wasm.Plugin(name)
		return ok
	}
	return false
}

// pluginNames lists the plugins a route may use: built-ins, then the wasm
// plugins of config.yaml.
func pluginNames(m *Main) []string {
	names := append([]string(nil), builtinPlugins...)
	if m != nil {
		for _, p := range m.Wasm.Plugins {
			names = append(names, p.Name)
		}
	}
	return names
}

func (d *decoder) decodeRoute(n *yaml.Node, path string, m *Main, enabled []string, upstreams map[string]*Upstream) *Route {
	n = resolve(n)
	rt := &Route{Enabled: true, Line: n.Line, Column: n.Column}
	var (
		hasID        bool
		upstreamNode *yaml.Node
		upstreamPath string
		idNode       *yaml.Node
		idPath       string
	)
	before := len(d.errs)
	ok := d.mapping(n, path,
		field{"id", func(v *yaml.Node, p string) {
			if s, ok := d.id(v, p); ok {
				rt.ID, hasID = s, true
			}
		}},
		field{"name", func(v *yaml.Node, p string) { rt.Name, _ = d.str(v, p) }},
		field{"desc", func(v *yaml.Node, p string) { rt.Desc, _ = d.str(v, p) }},
		field{"uri", func(v *yaml.Node, p string) {
			if s, ok := d.str(v, p); ok && d.checkURI(v, p, s) {
				rt.URIs = append([]string{s}, rt.URIs...)
			}
		}},
		field{"uris", func(v *yaml.Node, p string) {
			items, _ := d.sequence(v, p)
			if len(items) == 0 && !isNull(v) {
				d.errorf(resolve(v), p, "must not be empty")
			}
			for i, it := range items {
				if s, ok := d.str(it, index(p, i)); ok && d.checkURI(it, index(p, i), s) {
					rt.URIs = append(rt.URIs, s)
				}
			}
		}},
		field{"methods", func(v *yaml.Node, p string) {
			items, _ := d.sequence(v, p)
			for i, it := range items {
				if s, ok := d.oneOf(it, index(p, i), "HTTP method", httpMethods...); ok {
					rt.Methods = append(rt.Methods, s)
				}
			}
		}},
		field{"host", func(v *yaml.Node, p string) {
			if s, ok := d.str(v, p); ok && d.checkHost(v, p, s) {
				rt.Hosts = append([]string{strings.ToLower(s)}, rt.Hosts...)
			}
		}},
		field{"hosts", func(v *yaml.Node, p string) {
			items, _ := d.sequence(v, p)
			for i, it := range items {
				if s, ok := d.str(it, index(p, i)); ok && d.checkHost(it, index(p, i), s) {
					rt.Hosts = append(rt.Hosts, strings.ToLower(s))
				}
			}
		}},
		field{"priority", func(v *yaml.Node, p string) { rt.Priority, _ = d.integer(v, p) }},
		field{"vars", func(v *yaml.Node, p string) { rt.Vars = d.vars(v, p) }},
		field{"remote_addr", func(v *yaml.Node, p string) {
			if s, ok := d.str(v, p); ok {
				if pre, ok := d.addrOrCIDR(v, p, s); ok {
					rt.RemoteAddrs = append([]netip.Prefix{pre}, rt.RemoteAddrs...)
				}
			}
		}},
		field{"remote_addrs", func(v *yaml.Node, p string) {
			items, _ := d.sequence(v, p)
			for i, it := range items {
				if s, ok := d.str(it, index(p, i)); ok {
					if pre, ok := d.addrOrCIDR(it, index(p, i), s); ok {
						rt.RemoteAddrs = append(rt.RemoteAddrs, pre)
					}
				}
			}
		}},
		field{"filter_func", func(v *yaml.Node, p string) {
			d.errorf(v, p, "Lua is not supported: filter_func; express the condition with vars, or write a wasm plugin")
		}},
		field{"status", func(v *yaml.Node, p string) {
			if i, ok := d.integer(v, p); ok {
				if i != 0 && i != 1 {
					d.errorf(resolve(v), p, "must be 1 (enabled) or 0 (disabled), got %d", i)
					return
				}
				rt.Enabled = i == 1
			}
		}},
		field{"labels", func(v *yaml.Node, p string) {
			keys, values, _ := d.pairs(v, p)
			for i, k := range keys {
				if s, ok := d.text(values[i], join(p, k.Value)); ok {
					if rt.Labels == nil {
						rt.Labels = map[string]string{}
					}
					rt.Labels[k.Value] = s
				}
			}
		}},
		field{"upstream", func(v *yaml.Node, p string) { upstreamNode, upstreamPath = v, p }},
		field{"upstream_id", func(v *yaml.Node, p string) {
			if s, ok := d.id(v, p); ok {
				rt.UpstreamID, idNode, idPath = s, resolve(v), p
			}
		}},
		field{"service_id", func(v *yaml.Node, p string) { rt.ServiceID, _ = d.id(v, p) }},
		field{"plugin_config_id", func(v *yaml.Node, p string) { rt.PluginConfigID, _ = d.id(v, p) }},
		field{"plugins", func(v *yaml.Node, p string) { d.decodeRoutePlugins(v, p, rt, m, enabled) }},
		d.timestamp("create_time"), d.timestamp("update_time"),
	)
	if !ok {
		return nil
	}
	if !hasID {
		d.requireMissing(n, path, "id")
	}
	if len(rt.URIs) == 0 && !hasKey(n, "uri") && !hasKey(n, "uris") {
		d.errorf(n, path, "needs uri or uris")
	}
	switch {
	case upstreamNode != nil && idNode != nil:
		d.errorf(idNode, idPath, "set either upstream or upstream_id, not both")
	case upstreamNode != nil:
		rt.Upstream = d.decodeUpstream(upstreamNode, upstreamPath, false)
	case idNode != nil && upstreams == nil:
		// An object on its own (etcd, Admin API): Link resolves the id.
	case idNode != nil:
		u, found := upstreams[rt.UpstreamID]
		if !found {
			d.errorf(idNode, idPath, "upstream %q not found in upstreams", rt.UpstreamID)
		}
		rt.Upstream = u
	case !hasKey(n, "upstream_id") && !hasKey(n, "service_id"):
		d.errorf(n, path, "needs upstream, upstream_id or service_id")
	}
	if len(d.errs) > before {
		return nil
	}
	return rt
}

func hasKey(n *yaml.Node, key string) bool {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

// id decodes a route or upstream id: a non-empty string or an integer.
func (d *decoder) id(n *yaml.Node, path string) (string, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!str" && n.ShortTag() != "!!int") {
		d.errorf(n, path, "expected a string or an integer, got %s", describe(n))
		return "", false
	}
	if n.Value == "" {
		d.errorf(n, path, "must not be empty")
		return "", false
	}
	return n.Value, true
}

// checkURI enforces the shapes the router supports: "/exact", or a prefix
// ending in "*" such as "/prefix/*" or "/*".
func (d *decoder) checkURI(n *yaml.Node, path, uri string) bool {
	const allowed = `allowed: "/exact" or "/prefix/*"`
	n = resolve(n)
	switch {
	case !strings.HasPrefix(uri, "/"):
		d.errorf(n, path, "uri %q must start with /; %s", uri, allowed)
	case strings.Contains(strings.TrimSuffix(uri, "*"), "*"):
		d.errorf(n, path, "uri %q: * is only allowed at the end; %s", uri, allowed)
	case strings.ContainsAny(uri, "?# \t"):
		d.errorf(n, path, "uri %q must be a path without query, fragment or spaces; %s", uri, allowed)
	case strings.Contains(uri, "/:"):
		d.errorf(n, path, "uri %q: path parameters (:name) are not supported; %s", uri, allowed)
	default:
		return true
	}
	return false
}

// checkHost accepts a DNS name or IP, or a "*.example.com" wildcard.
func (d *decoder) checkHost(n *yaml.Node, path, host string) bool {
	h := strings.TrimPrefix(host, "*.")
	if _, err := netip.ParseAddr(strings.Trim(h, "[]")); (err == nil && h == host) || validHostname(h) {
		return true
	}
	d.errorf(resolve(n), path, "invalid host %q; allowed: a host name, an IP address or a wildcard such as *.example.com", host)
	return false
}

func (d *decoder) decodeRoutePlugins(n *yaml.Node, path string, rt *Route, m *Main, enabled []string) {
	keys, values, _ := d.pairs(n, path)
	for i, k := range keys {
		name, v, p := k.Value, values[i], join(path, k.Value)
		if !d.knownPlugin(name, m) {
			d.errorf(k, path, "unknown plugin %q; allowed: %s (built-in plugins and wasm.plugins of config.yaml)", name, strings.Join(pluginNames(m), ", "))
			continue
		}
		if enabled != nil && !contains(enabled, name) {
			d.errorf(k, path, "plugin %q is not listed in the plugins section of this file", name)
			continue
		}
		if name == PluginProxyRewrite {
			rt.ProxyRewrite = d.decodeProxyRewrite(v, p)
			continue
		}
		if name == PluginLimitCount {
			rt.LimitCount = d.decodeLimitCount(v, p)
			continue
		}
		if name == PluginResponseRewrite {
			rt.ResponseRewrite = d.decodeResponseRewrite(v, p)
			continue
		}
		if name == PluginRealIP {
			rt.RealIP = d.decodeRealIP(v, p)
			continue
		}
		if name == PluginRedirect {
			rt.Redirect = d.decodeRedirect(v, p)
			continue
		}
		if name == PluginCORS {
			rt.CORS = d.decodeCORS(v, p)
			continue
		}
		if name == PluginIPRestriction {
			rt.IPRestriction = d.decodeIPRestriction(v, p)
			continue
		}
		wp, _ := m.Wasm.Plugin(name)
		var conf string
		var hasConf bool
		d.mapping(v, p, field{"conf", func(v *yaml.Node, p string) {
			conf, hasConf = d.wasmConf(v, p)
		}})
		if !hasConf {
			if !hasKey(v, "conf") {
				d.errorf(resolve(v), join(p, "conf"), "required (a string or an object)")
			}
			continue
		}
		rt.Wasm = append(rt.Wasm, RouteWasm{Name: name, Conf: conf, Plugin: wp})
	}
	sort.SliceStable(rt.Wasm, func(i, j int) bool {
		a, b := rt.Wasm[i].Plugin, rt.Wasm[j].Plugin
		if a.Priority != b.Priority {
			return a.Priority > b.Priority
		}
		return a.Name < b.Name
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// wasmConf returns a wasm plugin's configuration as the plugin receives it:
// a string as written, an object encoded as JSON.
func (d *decoder) wasmConf(n *yaml.Node, path string) (string, bool) {
	n = resolve(n)
	switch {
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str":
		if n.Value == "" {
			d.errorf(n, path, "must not be empty")
			return "", false
		}
		return n.Value, true
	case n.Kind == yaml.MappingNode:
		var b bytes.Buffer
		if !d.writeJSON(&b, n, path) {
			return "", false
		}
		return b.String(), true
	}
	d.errorf(n, path, "expected a string or an object, got %s", describe(n))
	return "", false
}

// writeJSON encodes a YAML node as JSON, keeping the key order as written.
func (d *decoder) writeJSON(b *bytes.Buffer, n *yaml.Node, path string) bool {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		keys, values, ok := d.pairs(n, path)
		if !ok {
			return false
		}
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(k.Value)
			b.Write(kb)
			b.WriteByte(':')
			if !d.writeJSON(b, values[i], join(path, k.Value)) {
				ok = false
			}
		}
		b.WriteByte('}')
		return ok
	case yaml.SequenceNode:
		ok := true
		b.WriteByte('[')
		for i, it := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if !d.writeJSON(b, it, index(path, i)) {
				ok = false
			}
		}
		b.WriteByte(']')
		return ok
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			b.WriteString("null")
		case "!!bool":
			var v bool
			_ = n.Decode(&v)
			b.WriteString(strconv.FormatBool(v))
		case "!!int":
			var v int64
			if err := n.Decode(&v); err != nil {
				d.errorf(n, path, "integer %s out of range", n.Value)
				return false
			}
			b.WriteString(strconv.FormatInt(v, 10))
		case "!!float":
			var v float64
			if err := n.Decode(&v); err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
				d.errorf(n, path, "%s cannot be encoded as JSON", n.Value)
				return false
			}
			out, _ := json.Marshal(v)
			b.Write(out)
		default: // strings, and timestamps or binary kept as written
			out, _ := json.Marshal(n.Value)
			b.Write(out)
		}
		return true
	}
	d.errorf(n, path, "cannot be encoded as JSON")
	return false
}

func (d *decoder) decodeUpstream(n *yaml.Node, path string, named bool) *Upstream {
	n = resolve(n)
	u := &Upstream{
		Type:     BalancerRoundRobin,
		Scheme:   "http",
		PassHost: PassHostPass,
		Timeout:  Timeout{Connect: DefaultTimeout, Send: DefaultTimeout, Read: DefaultTimeout},
		KeepalivePool: KeepalivePool{
			Size:        DefaultKeepalivePoolSize,
			IdleTimeout: DefaultKeepalivePoolIdleTimeout,
			Requests:    DefaultKeepalivePoolRequests,
		},
		Retries: -1,
		Line:    n.Line, Column: n.Column,
	}
	before := len(d.errs)
	var nodesNode, hashOnNode, keyNode, hostNode *yaml.Node
	var nodesPath string
	ok := d.mapping(n, path,
		field{"id", func(v *yaml.Node, p string) {
			if !named {
				d.errorf(resolve(v), p, "an inline upstream has no id; declare it under upstreams and use upstream_id")
				return
			}
			u.ID, _ = d.id(v, p)
		}},
		field{"name", func(v *yaml.Node, p string) { u.Name, _ = d.str(v, p) }},
		field{"desc", func(v *yaml.Node, p string) { u.Desc, _ = d.str(v, p) }},
		field{"nodes", func(v *yaml.Node, p string) { nodesNode, nodesPath = v, p }},
		field{"type", func(v *yaml.Node, p string) {
			if s, ok := d.oneOf(v, p, "balancer", BalancerRoundRobin, BalancerCHash); ok {
				u.Type = s
			}
		}},
		field{"hash_on", func(v *yaml.Node, p string) {
			hashOnNode = resolve(v)
			u.HashOn, _ = d.oneOf(v, p, "hash_on", HashOnVars, HashOnHeader, HashOnCookie)
		}},
		field{"key", func(v *yaml.Node, p string) {
			keyNode = resolve(v)
			u.Key, _ = d.str(v, p)
		}},
		field{"scheme", func(v *yaml.Node, p string) {
			if s, ok := d.oneOf(v, p, "scheme", "http", "https"); ok {
				u.Scheme = s
			}
		}},
		field{"timeout", func(v *yaml.Node, p string) {
			d.mapping(v, p,
				field{"connect", func(v *yaml.Node, p string) { set(&u.Timeout.Connect)(d.seconds(v, p)) }},
				field{"send", func(v *yaml.Node, p string) { set(&u.Timeout.Send)(d.seconds(v, p)) }},
				field{"read", func(v *yaml.Node, p string) { set(&u.Timeout.Read)(d.seconds(v, p)) }},
			)
		}},
		field{"retries", func(v *yaml.Node, p string) { set(&u.Retries)(d.nonNegInt(v, p)) }},
		field{"retry_timeout", func(v *yaml.Node, p string) {
			if f, ok := d.number(v, p); ok {
				if f < 0 {
					d.errorf(resolve(v), p, "must be >= 0 seconds (0 = no limit), got %s", resolve(v).Value)
					return
				}
				u.RetryTimeout, _ = d.duration(v, p)
			}
		}},
		field{"pass_host", func(v *yaml.Node, p string) {
			if s, ok := d.oneOf(v, p, "pass_host", PassHostPass, PassHostNode, PassHostRewrite); ok {
				u.PassHost = s
			}
		}},
		field{"upstream_host", func(v *yaml.Node, p string) {
			hostNode = resolve(v)
			if s, ok := d.str(v, p); ok {
				if !validHostPort(s) {
					d.errorf(hostNode, p, "invalid host %q; allowed: host or host:port", s)
					return
				}
				u.UpstreamHost = s
			}
		}},
		field{"keepalive_pool", func(v *yaml.Node, p string) {
			d.mapping(v, p,
				field{"size", func(v *yaml.Node, p string) { set(&u.KeepalivePool.Size)(d.positive(v, p)) }},
				field{"idle_timeout", func(v *yaml.Node, p string) { set(&u.KeepalivePool.IdleTimeout)(d.seconds(v, p)) }},
				field{"requests", func(v *yaml.Node, p string) { set(&u.KeepalivePool.Requests)(d.positive(v, p)) }},
			)
		}},
		d.timestamp("create_time"), d.timestamp("update_time"),
	)
	if !ok {
		return nil
	}
	if named && u.ID == "" && !hasKey(n, "id") {
		d.requireMissing(n, path, "id")
	}
	if nodesNode == nil {
		d.errorf(n, join(path, "nodes"), "required: a map of \"host:port\": weight or a list of {host, port, weight}")
	} else {
		u.Nodes = d.decodeNodes(nodesNode, nodesPath, u.Scheme)
	}

	// chash settings.
	if u.Type == BalancerCHash {
		if u.HashOn == "" {
			u.HashOn = HashOnVars
		}
		switch {
		case u.HashOn == HashOnVars && u.Key == "":
			u.Key = "remote_addr"
		case u.HashOn == HashOnVars:
			if !contains(chashVars, u.Key) && !hasAnyPrefix(u.Key, "arg_", "http_", "cookie_") {
				d.errorf(keyNode, join(path, "key"), "unknown variable %q for hash_on vars; allowed: %s, or arg_<name>, http_<name>, cookie_<name>",
					u.Key, strings.Join(chashVars, ", "))
			}
		case u.Key == "" && keyNode == nil:
			d.errorf(n, join(path, "key"), "required with hash_on %s (the %s name)", u.HashOn, u.HashOn)
		case u.Key == "" || u.HashOn == HashOnHeader && !validToken(u.Key):
			d.errorf(keyNode, join(path, "key"), "invalid %s name %q", u.HashOn, u.Key)
		}
	} else {
		if hashOnNode != nil {
			d.errorf(hashOnNode, join(path, "hash_on"), "only used with type chash")
		}
		if keyNode != nil {
			d.errorf(keyNode, join(path, "key"), "only used with type chash")
		}
	}
	switch {
	case u.PassHost == PassHostRewrite && u.UpstreamHost == "" && hostNode == nil:
		d.errorf(n, join(path, "upstream_host"), "required with pass_host rewrite")
	case u.PassHost != PassHostRewrite && hostNode != nil:
		d.errorf(hostNode, join(path, "upstream_host"), "only used with pass_host rewrite")
	}
	if u.Retries < 0 {
		u.Retries = max(len(u.Nodes)-1, 0)
	}
	if len(d.errs) > before {
		return nil
	}
	return u
}

// set returns a function that stores a decoded value into dst when it is
// valid, so that defaults survive bad input: set(&x)(d.seconds(v, p)).
func set[T any](dst *T) func(T, bool) {
	return func(v T, ok bool) {
		if ok {
			*dst = v
		}
	}
}

func (d *decoder) positive(n *yaml.Node, path string) (int, bool) {
	v, ok := d.integer(n, path)
	if ok && v < 1 {
		d.errorf(resolve(n), path, "must be >= 1, got %d", v)
		return 0, false
	}
	return v, ok
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) && len(s) > len(p) {
			return true
		}
	}
	return false
}

// decodeNodes accepts {"host:port": weight} or [{host, port, weight}]. A
// missing port defaults to 80 for http and 443 for https, as in APISIX.
func (d *decoder) decodeNodes(n *yaml.Node, path, scheme string) []Node {
	defPort := 80
	if scheme == "https" {
		defPort = 443
	}
	var nodes []Node
	var at []*yaml.Node // node positions, for the duplicate check
	before := len(d.errs)
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		keys, values, _ := d.pairs(n, path)
		for i, k := range keys {
			p := join(path, k.Value)
			host, port, err := splitNode(k.Value, defPort)
			if err != "" {
				d.errorf(k, p, "%s", err)
				continue
			}
			w, ok := d.nonNegInt(values[i], p)
			if !ok {
				continue
			}
			nodes = append(nodes, Node{Host: host, Port: port, Weight: w})
			at = append(at, k)
		}
	case yaml.SequenceNode:
		for i, it := range n.Content {
			p := index(path, i)
			nd := Node{Port: defPort, Weight: -1}
			var hostOK bool
			ok := d.mapping(it, p,
				field{"host", func(v *yaml.Node, p string) {
					s, ok := d.str(v, p)
					if !ok {
						return
					}
					h := strings.Trim(s, "[]")
					if _, err := netip.ParseAddr(h); err != nil && !validHostname(h) {
						d.errorf(resolve(v), p, "invalid host %q; allowed: a host name or an IP address", s)
						return
					}
					nd.Host, hostOK = h, true
				}},
				field{"port", func(v *yaml.Node, p string) {
					if port, ok := d.port(v, p); ok {
						nd.Port = port
					}
				}},
				field{"weight", func(v *yaml.Node, p string) {
					if w, ok := d.nonNegInt(v, p); ok {
						nd.Weight = w
					}
				}},
			)
			if !ok {
				continue
			}
			if !hostOK {
				d.requireMissing(it, p, "host")
				continue
			}
			if nd.Weight < 0 {
				if !hasKey(it, "weight") {
					d.errorf(resolve(it), join(p, "weight"), "required")
				}
				continue
			}
			nodes = append(nodes, nd)
			at = append(at, resolve(it))
		}
	default:
		d.errorf(n, path, "expected a map of \"host:port\": weight or a list of {host, port, weight}, got %s", describe(n))
		return nil
	}
	seen := map[string]bool{}
	total := 0
	for i, nd := range nodes {
		addr := net.JoinHostPort(nd.Host, strconv.Itoa(nd.Port))
		if seen[addr] {
			d.errorf(at[i], path, "node %s is listed more than once", addr)
		}
		seen[addr] = true
		total += nd.Weight
	}
	if len(nodes) > 0 && total == 0 {
		d.errorf(n, path, "all node weights are 0; at least one must be > 0")
	}
	if len(nodes) == 0 && len(d.errs) == before {
		d.errorf(n, path, "needs at least one node")
	}
	return nodes
}

// splitNode parses "host:port", "host", "[v6]:port" or "[v6]".
func splitNode(s string, defPort int) (string, int, string) {
	const allowed = `allowed: "host:port", "host", "[ipv6]:port"`
	host, portStr := s, ""
	if strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1 {
		if !strings.HasPrefix(s, "[") || strings.Contains(s, "]:") {
			h, p, err := net.SplitHostPort(s)
			if err != nil {
				return "", 0, "invalid node address " + strconv.Quote(s) + "; " + allowed
			}
			host, portStr = h, p
		} else {
			host = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
		}
	} else if strings.Contains(s, ":") {
		return "", 0, "invalid node address " + strconv.Quote(s) + ": write IPv6 addresses as [addr]:port; " + allowed
	}
	if _, err := netip.ParseAddr(host); err != nil && !validHostname(host) {
		return "", 0, "invalid host in node address " + strconv.Quote(s) + "; " + allowed
	}
	port := defPort
	if portStr != "" {
		p, err := strconv.Atoi(portStr)
		if err != nil || p < 1 || p > 65535 {
			return "", 0, "invalid port in node address " + strconv.Quote(s) + "; allowed: 1-65535"
		}
		port = p
	}
	return host, port, ""
}

// validHostPort accepts host or host:port (IPv6 in brackets with a port).
func validHostPort(s string) bool {
	if s == "" {
		return false
	}
	_, _, err := splitNode(s, 80)
	return err == ""
}

// validToken reports whether s is an HTTP token (a valid header name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

var groupRef = regexp.MustCompile(`\$(\{[^}]*\}?|[0-9]+|\$|[A-Za-z_][A-Za-z0-9_]*|.?)`)

// ngxTemplate converts an ngx.re.sub replacement ("$1", "${1}", "$$") to
// regexp.Expand syntax and checks that every group exists in re.
func ngxTemplate(repl string, re *regexp.Regexp) (string, string) {
	var problem string
	out := groupRef.ReplaceAllStringFunc(repl, func(m string) string {
		ref := m[1:]
		switch {
		case ref == "$":
			return "$$"
		case strings.HasPrefix(ref, "{"):
			if !strings.HasSuffix(ref, "}") {
				problem = "unterminated ${ in replacement " + strconv.Quote(repl)
				return m
			}
			ref = ref[1 : len(ref)-1]
		}
		g, err := strconv.Atoi(ref)
		if err != nil || g < 0 {
			if problem == "" {
				problem = "replacement " + strconv.Quote(repl) + " uses " + strconv.Quote(m) + "; only $N and ${N} capture references are allowed ($$ for a literal $)"
			}
			return m
		}
		if g > re.NumSubexp() && problem == "" {
			problem = "replacement " + strconv.Quote(repl) + " refers to $" + ref + " but the regex has " + strconv.Itoa(re.NumSubexp()) + " capture group(s)"
		}
		return "${" + strconv.Itoa(g) + "}"
	})
	return out, problem
}

func (d *decoder) decodeProxyRewrite(n *yaml.Node, path string) *ProxyRewrite {
	pr := &ProxyRewrite{}
	before := len(d.errs)
	ok := d.mapping(n, path,
		field{"uri", func(v *yaml.Node, p string) {
			if s, ok := d.str(v, p); ok {
				if !strings.HasPrefix(s, "/") {
					d.errorf(resolve(v), p, "uri %q must start with /", s)
					return
				}
				pr.URI = s
			}
		}},
		field{"regex_uri", func(v *yaml.Node, p string) {
			items, ok := d.sequence(v, p)
			if !ok {
				return
			}
			if len(items) < 2 || len(items)%2 != 0 {
				d.errorf(resolve(v), p, "expected pairs of [regex, replacement], got %d item(s)", len(items))
				return
			}
			for i := 0; i < len(items); i += 2 {
				pat, ok1 := d.str(items[i], index(p, i))
				repl, ok2 := d.str(items[i+1], index(p, i+1))
				if !ok1 || !ok2 {
					continue
				}
				re, err := regexp.Compile(pat)
				if err != nil {
					msg := err.Error()
					msg = strings.TrimPrefix(msg, "error parsing regexp: ")
					d.errorf(resolve(items[i]), index(p, i), "regex does not compile (Go RE2 syntax): %s", msg)
					continue
				}
				tmpl, problem := ngxTemplate(repl, re)
				if problem != "" {
					d.errorf(resolve(items[i+1]), index(p, i+1), "%s", problem)
					continue
				}
				pr.RegexURI = append(pr.RegexURI, RegexURI{Regex: re, Template: tmpl, Replacement: repl})
			}
		}},
		field{"host", func(v *yaml.Node, p string) {
			if s, ok := d.str(v, p); ok {
				if !validHostPort(s) {
					d.errorf(resolve(v), p, "invalid host %q; allowed: host or host:port", s)
					return
				}
				pr.Host = s
			}
		}},
		field{"method", func(v *yaml.Node, p string) {
			pr.Method, _ = d.oneOf(v, p, "HTTP method", httpMethods...)
		}},
		field{"headers", func(v *yaml.Node, p string) { d.decodeHeaderRewrite(v, p, &pr.Headers) }},
	)
	if !ok || len(d.errs) > before {
		return nil
	}
	if isNull(n) || len(resolve(n).Content) == 0 {
		d.errorf(resolve(n), path, "needs at least one of uri, regex_uri, host, method, headers")
		return nil
	}
	return pr
}

// decodeHeaderRewrite accepts both APISIX forms: {set: {}, add: {}, remove: []}
// or a plain map of headers to set, where "" removes the header.
func (d *decoder) decodeHeaderRewrite(n *yaml.Node, path string, h *HeaderRewrite) {
	n = resolve(n)
	// Any of set, add or remove selects the structured form; other keys
	// next to them are then reported as unknown fields.
	structured := false
	for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "set", "add", "remove":
			structured = true
		}
	}
	headerMap := func(v *yaml.Node, p string) []Header {
		keys, values, _ := d.pairs(v, p)
		var out []Header
		for i, k := range keys {
			if !validToken(k.Value) {
				d.errorf(k, p, "invalid header name %q", k.Value)
				continue
			}
			if s, ok := d.text(values[i], join(p, k.Value)); ok {
				out = append(out, Header{Name: k.Value, Value: s})
			}
		}
		return out
	}
	if !structured {
		for _, hd := range headerMap(n, path) {
			if hd.Value == "" {
				h.Remove = append(h.Remove, hd.Name)
			} else {
				h.Set = append(h.Set, hd)
			}
		}
		return
	}
	d.mapping(n, path,
		field{"set", func(v *yaml.Node, p string) { h.Set = headerMap(v, p) }},
		field{"add", func(v *yaml.Node, p string) { h.Add = headerMap(v, p) }},
		field{"remove", func(v *yaml.Node, p string) {
			items, _ := d.sequence(v, p)
			for i, it := range items {
				if s, ok := d.str(it, index(p, i)); ok {
					if !validToken(s) {
						d.errorf(resolve(it), index(p, i), "invalid header name %q", s)
						continue
					}
					h.Remove = append(h.Remove, s)
				}
			}
		}},
	)
}

// vars compiles a route's `vars` expression, reporting a compile error at
// the position expr gives.
func (d *decoder) vars(n *yaml.Node, path string) *expr.Expr {
	e, err := expr.Compile(n)
	if err != nil {
		ee, ok := err.(*expr.Error)
		if !ok {
			d.errorf(n, path, "%v", err)
			return nil
		}
		ce := &Error{File: d.file, Path: path, Msg: ee.Msg}
		if !d.noPos {
			ce.Line, ce.Column = ee.Line, ee.Column
		}
		d.errs = append(d.errs, ce)
		return nil
	}
	return e
}

// addrOrCIDR parses "10.0.0.1", "10.0.0.0/8" or "2001:db8::/32".
func (d *decoder) addrOrCIDR(n *yaml.Node, path, s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			d.errorf(n, path, "invalid CIDR %q: %v", s, err)
			return p, false
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		d.errorf(n, path, "invalid IP address %q (expected an address or a CIDR such as 10.0.0.0/8)", s)
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}
