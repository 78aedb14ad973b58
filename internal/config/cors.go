package config

import (
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// PluginCORS is the built-in cors plugin.
const PluginCORS = "cors"

// CORS is the built-in cors plugin (APISIX 3.x schema). The lists are
// APISIX's comma-separated strings; "*" allows all (not with
// allow_credential), "**" forces all (echoing the request's values).
//
//	cors:
//	  allow_origins: "https://a.example,https://b.example"  # default "*"
//	  allow_methods: "GET,POST"                             # default "*"
//	  allow_headers: "*"                                    # default "*"
//	  expose_headers: "X-Trace"                             # default: not sent
//	  max_age: 5                                            # default 5
//	  allow_credential: false                               # default false
//	  allow_origins_by_regex: ["^https://.*\\.example\\.com$"]
type CORS struct {
	AllowOrigins, AllowMethods, AllowHeaders, ExposeHeaders string
	MaxAge                                                  int
	AllowCredential                                         bool
	AllowOriginsByRegex                                     []*regexp.Regexp
}

func (d *decoder) decodeCORS(n *yaml.Node, path string) *CORS {
	c := &CORS{AllowOrigins: "*", AllowMethods: "*", AllowHeaders: "*", MaxAge: 5}
	before := len(d.errs)
	str := func(dst *string) func(v *yaml.Node, p string) {
		return func(v *yaml.Node, p string) {
			if s, ok := d.str(v, p); ok {
				*dst = s
			}
		}
	}
	ok := d.mapping(n, path,
		field{"allow_origins", str(&c.AllowOrigins)},
		field{"allow_methods", str(&c.AllowMethods)},
		field{"allow_headers", str(&c.AllowHeaders)},
		field{"expose_headers", str(&c.ExposeHeaders)},
		field{"max_age", func(v *yaml.Node, p string) { c.MaxAge, _ = d.integer(v, p) }},
		field{"allow_credential", func(v *yaml.Node, p string) { c.AllowCredential, _ = d.boolean(v, p) }},
		field{"allow_origins_by_regex", func(v *yaml.Node, p string) {
			items, _ := d.sequence(v, p)
			for i, it := range items {
				s, ok := d.str(it, index(p, i))
				if !ok {
					continue
				}
				re, err := regexp.Compile(s)
				if err != nil {
					d.errorf(resolve(it), index(p, i), "regex does not compile (Go RE2 syntax): %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
					continue
				}
				c.AllowOriginsByRegex = append(c.AllowOriginsByRegex, re)
			}
		}},
		field{"allow_origins_by_metadata", func(v *yaml.Node, p string) {
			d.errorf(resolve(v), p, "not supported (Heimdall has no plugin_metadata); list the origins in allow_origins")
		}},
	)
	if !ok {
		return nil
	}
	if c.AllowCredential {
		for _, f := range []struct{ name, v string }{{"allow_origins", c.AllowOrigins}, {"allow_methods", c.AllowMethods}, {"allow_headers", c.AllowHeaders}, {"expose_headers", c.ExposeHeaders}} {
			if f.v == "*" {
				d.errorf(resolve(n), join(path, f.name), `"*" is not allowed with allow_credential: true (browsers refuse it); list the values or use "**" to echo the request's`)
			}
		}
	}
	if len(d.errs) > before {
		return nil
	}
	return c
}
