package egress

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/heimdallgw/heimdall/internal/config"
)

// FuzzAllowEntry: any string is either rejected by config.yaml's decoder or
// compiled by New (the two validators must agree, or a config that loads
// would fail when the gateway starts), parsing never panics, and a compiled
// entry never opens the metadata address or loopback unless it is an IP or
// CIDR entry inside that range.
func FuzzAllowEntry(f *testing.F) {
	for _, s := range []string{
		"10.0.0.0/8:6379", "[::1]:80", "api.example.com:443", "*.example.com", "192.168.1.1",
		"169.254.169.254/32", "0.0.0.0/0", "::/0", "127.0.0.1/32:6379", "[::ffff:127.0.0.1]:1",
		"", "[::1", "10.0.0.0/33", "host:0", "host:x", "a b", "::1:80", "*.", "[::1]:", "h:",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		yaml := "wasm:\n  plugins:\n    - name: a\n      priority: 1\n      file: a.wasm\n      network:\n        allow: [" +
			strconv.Quote(s) + "]\n"
		_, cfgErr := config.ParseMain("config.yaml", []byte(yaml))
		c, err := New(Config{Allow: []string{s}, Local: []netip.Addr{}})
		if cfgErr == nil && err != nil {
			t.Fatalf("config.yaml accepts %q but New rejects it: %v", s, err)
		}
		if err != nil {
			return
		}
		r := c.rules[0]
		for _, a := range []string{"169.254.169.254", "127.0.0.1", "::1"} {
			addr := netip.MustParseAddr(a)
			if ok, _ := c.Check(addr, 80, []string{"anything.example.com"}); ok {
				class, _, _ := specialRange(addr)
				if !r.isIP() || !class.Contains(r.prefix.Addr()) || r.prefix.Bits() < class.Bits() {
					t.Fatalf("entry %q opens %s", s, a)
				}
			}
		}
	})
}
