package config

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Object kinds: the directories under the etcd prefix and the Admin API
// paths (APISIX names). Heimdall applies routes and upstreams; the other
// kinds are recognised so that they can be refused by name, object by
// object, rather than ignored.
const (
	KindRoutes         = "routes"
	KindUpstreams      = "upstreams"
	KindServices       = "services"
	KindPluginConfigs  = "plugin_configs"
	KindGlobalRules    = "global_rules"
	KindConsumers      = "consumers"
	KindSSLs           = "ssls"
	KindPluginMetadata = "plugin_metadata"
)

// SupportedKinds are the object kinds Heimdall applies.
var SupportedKinds = []string{KindRoutes, KindUpstreams, KindServices, KindPluginConfigs}

// UnsupportedKinds are APISIX object kinds Heimdall reads but cannot apply
// yet; each such object is rejected with ErrUnsupportedKind.
var UnsupportedKinds = []string{KindGlobalRules, KindConsumers, KindSSLs, KindPluginMetadata}

// ErrUnsupportedKind is wrapped by the error for an object of one of the
// UnsupportedKinds.
var ErrUnsupportedKind = fmt.Errorf("object kind not supported by Heimdall yet (supported: %s)", strings.Join(SupportedKinds, ", "))

// ParseUpstreamObject validates one upstream stored on its own (an etcd
// value, an Admin API body), in JSON or YAML, with the checks and messages
// of apisix.yaml's upstreams. source names the object in errors (the etcd
// key) in place of file:line. id is the id the object is stored under: a
// missing "id" field takes it, a different one is an error.
func ParseUpstreamObject(source, id string, data []byte) (*Upstream, error) {
	d, root, err := objectRoot(source, id, data)
	if err != nil {
		return nil, err
	}
	u := d.decodeUpstream(root, "", true)
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	return u, nil
}

// ParseRouteObject is ParseUpstreamObject for a route. Plugins are checked
// against m. A route's upstream_id is not resolved here: Link does that
// once every upstream is known.
func ParseRouteObject(source, id string, data []byte, m *Main) (*Route, error) {
	d, root, err := objectRoot(source, id, data)
	if err != nil {
		return nil, err
	}
	rt := d.decodeRoute(root, "", m, nil, nil)
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	return rt, nil
}

// Objects are routes and what they refer to, parsed one by one (etcd).
type Objects struct {
	Routes        []*Route
	Upstreams     []*Upstream
	Services      []*Service
	PluginConfigs []*PluginConfig
}

// Link assembles objects parsed one by one into a Routes, resolving each
// route's upstream_id, service_id and plugin_config_id (and a service's
// upstream_id). A route whose references do not resolve is left out and
// reported (Error.File is its source as given in sources, by route id).
// The objects given are not modified: linked routes and services are
// copies, so a snapshot never shares a mutable object with another.
func Link(file string, objs Objects, sources map[string]string) (*Routes, Errors) {
	r := &Routes{File: file, Upstreams: objs.Upstreams, PluginConfigs: objs.PluginConfigs}
	byID := make(map[string]*Upstream, len(objs.Upstreams))
	for _, u := range objs.Upstreams {
		byID[u.ID] = u
	}
	services := make(map[string]*Service, len(objs.Services))
	for _, s := range objs.Services {
		if s.UpstreamID != "" && byID[s.UpstreamID] != nil {
			c := *s
			c.Upstream = byID[s.UpstreamID]
			s = &c
		}
		services[s.ID] = s
		r.Services = append(r.Services, s)
	}
	pcs := make(map[string]*PluginConfig, len(objs.PluginConfigs))
	for _, pc := range objs.PluginConfigs {
		pcs[pc.ID] = pc
	}
	var errs Errors
	for _, rt := range objs.Routes {
		if rt.UpstreamID != "" {
			u, ok := byID[rt.UpstreamID]
			if !ok {
				errs = append(errs, &Error{File: sources[rt.ID], Path: "upstream_id", Msg: fmt.Sprintf("upstream %q not found in upstreams", rt.UpstreamID)})
				continue
			}
			c := *rt
			c.Upstream = u
			rt = &c
		}
		composed, field, msg := compose(rt, services, pcs, byID)
		if composed == nil {
			errs = append(errs, &Error{File: sources[rt.ID], Path: field, Msg: msg})
			continue
		}
		r.Routes = append(r.Routes, composed)
	}
	return r, errs
}

// objectRoot parses one stored object and reconciles its id with the one
// it is stored under. Positions are dropped from errors: an object's
// source is its key, and stored JSON is one line.
func objectRoot(source, id string, data []byte) (*decoder, *yaml.Node, error) {
	root, perr := parse(source, data)
	if perr != nil {
		perr.Line, perr.Column = 0, 0
		return nil, nil, Errors{perr}
	}
	d := &decoder{file: source, noPos: true}
	if root == nil || root.Kind != yaml.MappingNode {
		what := "an empty value"
		if root != nil {
			what = describe(root)
		}
		d.errorf(nil, "", "expected an object, got %s", what)
		return nil, nil, d.errs
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "id" {
			continue
		}
		v := resolve(root.Content[i+1])
		if id != "" && v.Kind == yaml.ScalarNode && v.Value != id {
			d.errorf(v, "id", "id %q does not match the id %q the object is stored under", v.Value, id)
			return nil, nil, d.errs
		}
		return d, root, nil
	}
	if id != "" {
		root.Content = append(root.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "id"},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: id})
	}
	return d, root, nil
}

// timestamp accepts the create_time / update_time fields that APISIX's
// Admin API stores in every object (Unix seconds).
func (d *decoder) timestamp(name string) field {
	return field{name, func(v *yaml.Node, p string) { d.nonNegInt(v, p) }}
}

// PluginNames lists the plugins routes may use: the built-in ones, then the
// wasm plugins of config.yaml in declaration order.
func (m *Main) PluginNames() []string { return pluginNames(m) }
