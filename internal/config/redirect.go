package config

import (
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// PluginRedirect is the built-in redirect plugin.
const PluginRedirect = "redirect"

// Redirect is the built-in redirect plugin (APISIX 3.x schema). Exactly one
// of HTTPToHTTPS, URI, RegexURI is set.
//
//	redirect:
//	  uri: "/test/default.html"   # $uri and $request_uri are expanded
//	  ret_code: 301                # default 302 (301 with http_to_https)
//	  append_query_string: true
//	  encode_uri: false
type Redirect struct {
	HTTPToHTTPS       bool
	URI               string
	RegexURI          *RegexURI
	RetCode           int
	EncodeURI         bool
	AppendQueryString bool
}

var redirectVar = regexp.MustCompile(`\$\{?[A-Za-z_][A-Za-z0-9_]*\}?`)

func (d *decoder) decodeRedirect(n *yaml.Node, path string) *Redirect {
	rd := &Redirect{}
	before := len(d.errs)
	ok := d.mapping(n, path,
		field{"http_to_https", func(v *yaml.Node, p string) { rd.HTTPToHTTPS, _ = d.boolean(v, p) }},
		field{"uri", func(v *yaml.Node, p string) {
			s, ok := d.str(v, p)
			if !ok {
				return
			}
			for _, m := range redirectVar.FindAllString(s, -1) {
				if name := strings.Trim(m, "${}"); name != "uri" && name != "request_uri" {
					d.errorf(resolve(v), p, "variable %s is not supported yet; allowed: $uri, $request_uri", m)
					return
				}
			}
			rd.URI = s
		}},
		field{"regex_uri", func(v *yaml.Node, p string) {
			items, ok := d.sequence(v, p)
			if !ok {
				return
			}
			if len(items) != 2 {
				d.errorf(resolve(v), p, "expected [regex, replacement], got %d item(s)", len(items))
				return
			}
			pat, ok1 := d.str(items[0], index(p, 0))
			repl, ok2 := d.str(items[1], index(p, 1))
			if !ok1 || !ok2 {
				return
			}
			re, err := regexp.Compile(pat)
			if err != nil {
				d.errorf(resolve(items[0]), index(p, 0), "regex does not compile (Go RE2 syntax): %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
				return
			}
			tmpl, problem := ngxTemplate(repl, re)
			if problem != "" {
				d.errorf(resolve(items[1]), index(p, 1), "%s", problem)
				return
			}
			rd.RegexURI = &RegexURI{Regex: re, Template: tmpl, Replacement: repl}
		}},
		field{"ret_code", func(v *yaml.Node, p string) {
			if c, ok := d.integer(v, p); ok {
				if c < 200 {
					d.errorf(resolve(v), p, "must be >= 200, got %d", c)
					return
				}
				rd.RetCode = c
			}
		}},
		field{"encode_uri", func(v *yaml.Node, p string) { rd.EncodeURI, _ = d.boolean(v, p) }},
		field{"append_query_string", func(v *yaml.Node, p string) { rd.AppendQueryString, _ = d.boolean(v, p) }},
	)
	if !ok {
		return nil
	}
	set := 0
	for _, k := range []string{"http_to_https", "uri", "regex_uri"} {
		if hasKey(n, k) {
			set++
		}
	}
	if set != 1 {
		d.errorf(resolve(n), path, "exactly one of http_to_https, uri, regex_uri is required")
	}
	if rd.HTTPToHTTPS && rd.AppendQueryString {
		d.errorf(resolve(n), join(path, "append_query_string"), "cannot be used with http_to_https (the query string is kept already)")
	}
	if rd.RetCode == 0 {
		rd.RetCode = 302
		if rd.HTTPToHTTPS {
			rd.RetCode = 301
		}
	}
	if len(d.errs) > before {
		return nil
	}
	return rd
}
