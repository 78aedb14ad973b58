package config

import (
	"net/netip"
	"strings"

	"gopkg.in/yaml.v3"
)

// PluginRealIP is the built-in real-ip plugin.
const PluginRealIP = "real-ip"

// RealIP is the built-in real-ip plugin (APISIX 3.x schema): it replaces the
// client address plugins see (remote_addr) with one taken from Source when
// the peer is trusted.
//
//	real-ip:
//	  source: http_x_forwarded_for   # http_<header> or arg_<name>
//	  trusted_addresses: ["127.0.0.0/24"]  # absent: every peer is trusted
//	  recursive: true                # skip trusted addresses from the right
type RealIP struct {
	Source           string
	TrustedAddresses []netip.Prefix
	Recursive        bool
}

func (d *decoder) decodeRealIP(n *yaml.Node, path string) *RealIP {
	ri := &RealIP{}
	before := len(d.errs)
	ok := d.mapping(n, path,
		field{"source", func(v *yaml.Node, p string) {
			s, ok := d.str(v, p)
			if !ok {
				return
			}
			if !(strings.HasPrefix(s, "http_") && len(s) > 5) && !(strings.HasPrefix(s, "arg_") && len(s) > 4) {
				d.errorf(resolve(v), p, "source %q is not supported; allowed: http_<header> (such as http_x_forwarded_for) or arg_<name>", s)
				return
			}
			ri.Source = s
		}},
		field{"trusted_addresses", func(v *yaml.Node, p string) {
			items, _ := d.sequence(v, p)
			for i, it := range items {
				s, ok := d.str(it, index(p, i))
				if !ok {
					continue
				}
				pf, err := parseIPOrCIDR(s)
				if err != nil {
					d.errorf(resolve(it), index(p, i), "invalid IP or CIDR %q", s)
					continue
				}
				ri.TrustedAddresses = append(ri.TrustedAddresses, pf)
			}
		}},
		field{"recursive", func(v *yaml.Node, p string) { ri.Recursive, _ = d.boolean(v, p) }},
	)
	if !ok {
		return nil
	}
	if !hasKey(n, "source") {
		d.errorf(resolve(n), join(path, "source"), "required")
	}
	if len(d.errs) > before {
		return nil
	}
	return ri
}
