package config

import (
	"encoding/base64"
	"strings"

	"gopkg.in/yaml.v3"
)

// PluginResponseRewrite is the built-in response-rewrite plugin.
const PluginResponseRewrite = "response-rewrite"

// ResponseRewrite is the built-in response-rewrite plugin (APISIX 3.x
// schema, without vars and filters for now):
//
//	response-rewrite:
//	  status_code: 200
//	  body: "{\"code\":\"ok\"}\n"
//	  body_base64: false       # body is base64, decoded at load
//	  headers:
//	    set: {X-Server-Id: "3"}
//	    add: ["X-Server-Balancer-Addr: 127.0.0.1:80"]
//	    remove: [X-Powered-By]
type ResponseRewrite struct {
	StatusCode int // 0: keep
	Body       []byte
	HasBody    bool // body given (possibly empty)
	Headers    HeaderRewrite
}

func (d *decoder) decodeResponseRewrite(n *yaml.Node, path string) *ResponseRewrite {
	rr := &ResponseRewrite{}
	var body string
	var b64 bool
	var bodyNode *yaml.Node
	before := len(d.errs)
	ok := d.mapping(n, path,
		field{"status_code", func(v *yaml.Node, p string) {
			if c, ok := d.integer(v, p); ok {
				if c < 200 || c > 598 {
					d.errorf(resolve(v), p, "must be between 200 and 598, got %d", c)
					return
				}
				rr.StatusCode = c
			}
		}},
		field{"body", func(v *yaml.Node, p string) {
			body, rr.HasBody = d.str(v, p)
			bodyNode = v
		}},
		field{"body_base64", func(v *yaml.Node, p string) { b64, _ = d.boolean(v, p) }},
		field{"headers", func(v *yaml.Node, p string) { d.decodeResponseHeaders(v, p, &rr.Headers) }},
		field{"vars", func(v *yaml.Node, p string) {
			// Hook: the lead wires internal/expr here once it is merged.
			d.errorf(resolve(v), p, "not supported yet (APISIX expressions are not implemented for response-rewrite); remove vars or split the route")
		}},
		field{"filters", func(v *yaml.Node, p string) {
			d.errorf(resolve(v), p, "not supported yet; use body to replace the whole body")
		}},
	)
	if !ok {
		return nil
	}
	if rr.HasBody {
		rr.Body = []byte(body)
		if b64 {
			dec, err := base64.StdEncoding.DecodeString(body)
			if err != nil {
				d.errorf(resolve(bodyNode), join(path, "body"), "body_base64 is true but body is not base64: %v", err)
			}
			rr.Body = dec
		}
	} else if b64 {
		d.errorf(resolve(n), join(path, "body_base64"), "needs body")
	}
	if len(d.errs) > before {
		return nil
	}
	return rr
}

// decodeResponseHeaders accepts APISIX's response-rewrite forms:
// {set: {name: value}, add: ["name: value"], remove: [name]} or a plain map
// of headers to set. Values with nginx variables are rejected for now.
func (d *decoder) decodeResponseHeaders(n *yaml.Node, path string, h *HeaderRewrite) {
	value := func(v *yaml.Node, p string) (string, bool) {
		s, ok := d.text(v, p)
		if ok && strings.Contains(s, "$") {
			d.errorf(resolve(v), p, "value %q: nginx variables are not supported yet in response-rewrite headers", s)
			return "", false
		}
		return s, ok
	}
	set := func(v *yaml.Node, p string) {
		keys, values, _ := d.pairs(v, p)
		for i, k := range keys {
			if s, ok := value(values[i], join(p, k.Value)); ok {
				h.Set = append(h.Set, Header{Name: k.Value, Value: s})
			}
		}
	}
	if !hasKey(n, "set") && !hasKey(n, "add") && !hasKey(n, "remove") {
		set(n, path)
		return
	}
	d.mapping(n, path,
		field{"set", set},
		field{"add", func(v *yaml.Node, p string) {
			items, _ := d.sequence(v, p)
			for i, it := range items {
				s, ok := value(it, index(p, i))
				if !ok {
					continue
				}
				name, val, found := strings.Cut(s, ":")
				if !found || strings.TrimSpace(name) == "" {
					d.errorf(resolve(it), index(p, i), "expected \"Name: value\", got %q", s)
					continue
				}
				h.Add = append(h.Add, Header{Name: strings.TrimSpace(name), Value: strings.TrimSpace(val)})
			}
		}},
		field{"remove", func(v *yaml.Node, p string) { h.Remove, _ = d.strList(v, p) }},
	)
}
