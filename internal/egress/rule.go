package egress

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// rule is one parsed Allow entry.
type rule struct {
	text   string
	prefix netip.Prefix // valid for IP and CIDR entries
	host   string       // lower-case name; for "*.example.com": ".example.com"
	port   uint16       // 0 = any
}

func (r rule) isIP() bool { return r.prefix.IsValid() }

func (r rule) matchHost(name string) bool {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if strings.HasPrefix(r.host, ".") {
		return strings.HasSuffix(name, r.host) && len(name) > len(r.host)
	}
	return name == r.host
}

// parseRule parses one Allow entry.
func parseRule(s string) (rule, error) {
	r := rule{text: s}
	host, port := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.Index(s, "]")
		if end < 0 {
			return r, fmt.Errorf("invalid allow entry %q: missing ]", s)
		}
		host, port = s[1:end], s[end+1:]
		if port != "" {
			if !strings.HasPrefix(port, ":") {
				return r, fmt.Errorf("invalid allow entry %q", s)
			}
			port = port[1:]
			if port == "" {
				return r, fmt.Errorf("invalid allow entry %q: empty port", s)
			}
		}
	case strings.Count(s, ":") == 1:
		host, port, _ = strings.Cut(s, ":")
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return r, fmt.Errorf("invalid port in allow entry %q", s)
		}
		r.port = uint16(n)
	}
	if host == "" {
		return r, fmt.Errorf("invalid allow entry %q: empty host", s)
	}
	if strings.Contains(host, "/") {
		p, err := netip.ParsePrefix(host)
		if err != nil {
			return r, fmt.Errorf("invalid CIDR in allow entry %q: %w", s, err)
		}
		r.prefix = p.Masked()
		return r, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		r.prefix = netip.PrefixFrom(a, a.BitLen())
		return r, nil
	}
	if strings.ContainsAny(host, ":/ ") {
		return r, fmt.Errorf("invalid host in allow entry %q", s)
	}
	r.host = strings.TrimSuffix(strings.ToLower(host), ".")
	if strings.HasPrefix(r.host, "*.") {
		r.host = r.host[1:]
	}
	if _, err := netip.ParseAddr(r.host); err == nil || !validName(strings.TrimPrefix(r.host, ".")) {
		return r, fmt.Errorf("invalid host in allow entry %q: want a DNS name, *.domain, an IP or a CIDR", s)
	}
	return r, nil
}

// validName reports whether s is a DNS name: labels of letters, digits,
// hyphens and underscores separated by single dots.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// specialRanges are the address ranges a plugin may reach only through an IP
// or CIDR allow entry that lies inside the range.
var specialRanges = [...]struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("0.0.0.0/32"), "unspecified"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// specialRange returns the special range holding a, if any.
func specialRange(a netip.Addr) (netip.Prefix, string, bool) {
	for _, r := range specialRanges {
		if r.prefix.Contains(a) {
			return r.prefix, r.what, true
		}
	}
	return netip.Prefix{}, "", false
}

// isLocal reports whether a is an address of this host.
func (c *Checker) isLocal(a netip.Addr) bool {
	if a.IsLoopback() || a.IsUnspecified() {
		return true
	}
	for _, l := range c.local {
		if l == a {
			return true
		}
	}
	return false
}

// isReserved reports whether a:port is one of the gateway's own listeners.
func (c *Checker) isReserved(a netip.Addr, port uint16) bool {
	for _, r := range c.reserved {
		if r.Port() != port {
			continue
		}
		if r.Addr() == a || ((!r.Addr().IsValid() || r.Addr().IsUnspecified()) && c.isLocal(a)) {
			return true
		}
	}
	return false
}

// check decides whether a:port may be used. names are the host names the
// instance resolved to a. anyPort asks whether some port could be allowed
// (used to filter lookup results). The reason explains a refusal.
func (c *Checker) check(a netip.Addr, port uint16, anyPort bool, names []string) (bool, string) {
	a = a.Unmap()
	class, what, special := specialRange(a)
	reserved := !anyPort && c.isReserved(a, port)
	// wrongPort: an IP entry covers a, but only on other ports.
	wrongPort := false
	for _, r := range c.rules {
		if !anyPort && r.port != 0 && r.port != port {
			if r.isIP() && r.prefix.Contains(a) &&
				(!special || (class.Contains(r.prefix.Addr()) && r.prefix.Bits() >= class.Bits())) {
				wrongPort = true
			}
			continue
		}
		if reserved && r.port == 0 {
			continue
		}
		if r.isIP() {
			if !r.prefix.Contains(a) {
				continue
			}
			if special && !(class.Contains(r.prefix.Addr()) && r.prefix.Bits() >= class.Bits()) {
				continue
			}
			return true, ""
		}
		if special || reserved {
			continue
		}
		for _, n := range names {
			if r.matchHost(n) {
				return true, ""
			}
		}
	}
	switch {
	case len(c.rules) == 0:
		return false, "no network policy"
	case reserved:
		return false, "gateway port not explicitly allowed"
	case wrongPort:
		return false, "port not in allow list"
	case special:
		return false, what + " address not explicitly allowed"
	}
	return false, "not in allow list"
}
