package egress

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/heimdallgw/heimdall/internal/testutil/fuzzseed"
)

// ruleString is the canonical form of a parsed rule: what parseRule must
// read back as the same rule.
func ruleString(r rule) string {
	var host string
	switch {
	case r.isIP() && r.prefix.IsSingleIP():
		host = r.prefix.Addr().String()
	case r.isIP():
		host = r.prefix.String()
	case strings.HasPrefix(r.host, "."):
		host = "*" + r.host
	default:
		host = r.host
	}
	if r.port == 0 {
		return host
	}
	if r.isIP() && r.prefix.Addr().Is6() {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(int(r.port))
}

// Fuzz inputs: newline-separated allow entries, then the destination the
// plugin asks for (address bytes, port, whether any port will do) and the
// name it resolved to that address.
var fuzzReserved = []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:9080"), netip.MustParseAddrPort("127.0.0.1:9443")}

var fuzzLocal = []netip.Addr{netip.MustParseAddr("192.0.2.10")}

func TestFuzzSeeds(t *testing.T) {
	ip := func(s string) []byte { return netip.MustParseAddr(s).AsSlice() }
	// The allow lists of the docs, the shipped examples and the tests, each
	// against a destination a plugin would try.
	seeds := []fuzzseed.Seed{
		fuzzseed.New("readme", "redis.internal:6379\n10.0.0.0/8:443\n127.0.0.1/32:6379", ip("10.1.2.3"), uint16(443), false, "api.internal"),
		fuzzseed.New("loopback-by-cidr", "0.0.0.0/0", ip("127.0.0.1"), uint16(6379), false, ""),
		fuzzseed.New("metadata", "0.0.0.0/0\n::/0", ip("169.254.169.254"), uint16(80), false, "metadata.google.internal"),
		fuzzseed.New("gateway-port", "127.0.0.0/8", ip("127.0.0.1"), uint16(9080), false, "localhost"),
		fuzzseed.New("wildcard", "*.svc.local\napi.example.com:443", ip("10.0.0.7"), uint16(8080), false, "redis.svc.local"),
		fuzzseed.New("ipv6", "[::1]:8080\n[fe80::/10]:53\nfe80::1%eth0", ip("fe80::1"), uint16(53), true, ""),
		fuzzseed.New("mapped", "::ffff:10.0.0.0/104:6379\n::ffff:127.0.0.1", ip("::ffff:127.0.0.1"), uint16(6379), false, ""),
		fuzzseed.New("bad", "[::1\n10.0.0.0/33\n:80\nexample.com:0\nexample.com:99999\na b\n[::1]x", ip("10.0.0.1"), uint16(80), false, ""),
		fuzzseed.New("no-policy", "", ip("8.8.8.8"), uint16(53), false, "dns.google"),
	}
	fuzzseed.Sync(t, "FuzzPolicy", seeds)
}

// FuzzPolicy: parsing never panics; a parsed rule's canonical form parses
// to the same rule; New fails exactly when an entry does; and
// check keeps its promises whatever the rules: nothing without rules, a
// special address (loopback, link-local, unspecified, multicast) only
// through an IP rule inside its range, a port only through a rule for it or
// for any port, a gateway listener only through a rule naming its port, and
// a host-name rule only for an address resolved from a matching name.
func FuzzPolicy(f *testing.F) {
	f.Fuzz(func(t *testing.T, allow string, addr []byte, port uint16, anyPort bool, name string) {
		entries := strings.Split(allow, "\n")
		if allow == "" {
			entries = nil
		}
		parseOK := true
		var rules []rule
		for _, s := range entries {
			r, err := parseRule(s)
			if err != nil {
				parseOK = false
				continue
			}
			rules = append(rules, r)
			canon := ruleString(r)
			again, err := parseRule(canon)
			if err != nil {
				t.Fatalf("entry %q parses, its form %q does not: %v", s, canon, err)
			}
			again.text = r.text
			if again != r {
				t.Fatalf("entry %q = %+v, its form %q = %+v", s, r, canon, again)
			}
		}
		c, err := New(Config{Allow: entries, Reserved: fuzzReserved, Local: fuzzLocal})
		if (err == nil) != parseOK {
			t.Fatalf("New error %v, but every entry parsed: %v", err, parseOK)
		}
		if err != nil {
			return
		}
		a, ok := netip.AddrFromSlice(addr)
		if !ok {
			return
		}
		var names []string
		if name != "" {
			names = []string{name}
		}
		allowed, reason := c.check(a, port, anyPort, names)
		if !allowed {
			if reason == "" {
				t.Fatal("refusal without a reason")
			}
			return
		}
		if len(rules) == 0 {
			t.Fatalf("%v:%d allowed with no rules", a, port)
		}
		u := a.Unmap()
		class, what, special := specialRange(u)
		reserved := !anyPort && c.isReserved(u, port)
		var byIP, byName bool
		for _, r := range rules {
			portOK := anyPort || r.port == 0 || r.port == port
			if reserved {
				portOK = r.port == port
			}
			if !portOK {
				continue
			}
			if r.isIP() && r.prefix.Contains(u) &&
				(!special || (class.Contains(r.prefix.Addr()) && r.prefix.Bits() >= class.Bits())) {
				byIP = true
			}
			if !r.isIP() && name != "" && r.matchHost(name) {
				byName = true
			}
		}
		switch {
		case special && !byIP:
			t.Fatalf("%s address %v:%d allowed by %q without an IP rule inside %v", what, a, port, entries, class)
		case reserved && !byIP:
			t.Fatalf("gateway listener %v:%d allowed by %q without an IP rule for that port", a, port, entries)
		case !byIP && !byName:
			t.Fatalf("%v:%d (name %q) allowed by %q, which no rule covers", a, port, name, entries)
		}
		// Names compare without ASCII case or a trailing dot.
		if name != "" {
			alt := asciiUpper(strings.TrimSuffix(name, ".")) + "."
			if again, _ := c.check(a, port, anyPort, []string{alt}); !again {
				t.Fatalf("%v allowed for %q but not for %q", a, name, alt)
			}
		}
	})
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
