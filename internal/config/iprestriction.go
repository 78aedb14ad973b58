package config

import (
	"net/netip"
	"strings"

	"gopkg.in/yaml.v3"
)

// PluginIPRestriction is the built-in ip-restriction plugin.
const PluginIPRestriction = "ip-restriction"

// IPRestriction is the built-in ip-restriction plugin (APISIX 3.x schema):
// exactly one of Whitelist or Blacklist, of IPs or CIDRs, matched against
// the peer address.
//
//	ip-restriction:
//	  whitelist: ["192.168.0.1/24", "127.0.0.1"]
//	  message: "Access denied"   # default "Your IP address is not allowed"
//	  response_code: 403         # 403 (default) or 404
type IPRestriction struct {
	Whitelist, Blacklist []netip.Prefix
	Message              string
	ResponseCode         int
}

func (d *decoder) decodeIPRestriction(n *yaml.Node, path string) *IPRestriction {
	ir := &IPRestriction{Message: "Your IP address is not allowed", ResponseCode: 403}
	before := len(d.errs)
	prefixes := func(v *yaml.Node, p string) []netip.Prefix {
		items, ok := d.sequence(v, p)
		if !ok {
			return nil
		}
		if len(items) == 0 {
			d.errorf(resolve(v), p, "must list at least one IP or CIDR")
		}
		var out []netip.Prefix
		for i, it := range items {
			s, ok := d.str(it, index(p, i))
			if !ok {
				continue
			}
			pf, err := parseIPOrCIDR(s)
			if err != nil {
				d.errorf(resolve(it), index(p, i), "invalid IP or CIDR %q; allowed: an address such as 10.0.0.1 or a range such as 10.0.0.0/8", s)
				continue
			}
			out = append(out, pf)
		}
		return out
	}
	ok := d.mapping(n, path,
		field{"whitelist", func(v *yaml.Node, p string) { ir.Whitelist = prefixes(v, p) }},
		field{"blacklist", func(v *yaml.Node, p string) { ir.Blacklist = prefixes(v, p) }},
		field{"message", func(v *yaml.Node, p string) {
			if s, ok := d.str(v, p); ok {
				if len(s) < 1 || len(s) > 1024 {
					d.errorf(resolve(v), p, "length must be 1 to 1024, got %d", len(s))
					return
				}
				ir.Message = s
			}
		}},
		field{"response_code", func(v *yaml.Node, p string) {
			if c, ok := d.integer(v, p); ok {
				if c != 403 && c != 404 {
					d.errorf(resolve(v), p, "must be 403 or 404, got %d", c)
					return
				}
				ir.ResponseCode = c
			}
		}},
	)
	if !ok {
		return nil
	}
	if hasKey(n, "whitelist") == hasKey(n, "blacklist") {
		d.errorf(resolve(n), path, "exactly one of whitelist or blacklist is required")
	}
	if len(d.errs) > before {
		return nil
	}
	return ir
}

// parseIPOrCIDR accepts "10.0.0.1" (a /32 or /128) or "10.0.0.0/8"; the
// prefix is masked, as APISIX matches "192.168.0.1/24" as 192.168.0.0/24.
func parseIPOrCIDR(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
