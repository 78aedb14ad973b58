package egress

import "github.com/heimdallgw/heimdall/internal/config"

// FromConfig is the Config of a plugin's `network:` section in config.yaml;
// nil (no section) denies every literal destination and allows every named
// upstream. The caller adds Reserved, Logger and, for tests, Resolver and
// Dialer.
func FromConfig(plugin string, n *config.Network) Config {
	c := Config{Plugin: plugin}
	if n == nil {
		return c
	}
	c.Allow = append([]string(nil), n.Allow...)
	c.DNS = n.DNS
	c.LookupTimeout = n.Deadline
	if n.Upstreams != nil {
		c.Upstreams = append([]string{}, n.Upstreams...)
	}
	return c
}
