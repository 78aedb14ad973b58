package sockets

import "github.com/heimdallgw/heimdall/internal/config"

// PolicyFromConfig converts a plugin's `network:` section; nil (no section)
// is the zero Policy, which denies everything.
func PolicyFromConfig(n *config.Network) Policy {
	if n == nil {
		return Policy{}
	}
	return Policy{
		Allow:      append([]string(nil), n.Allow...),
		DNS:        n.DNS,
		MaxSockets: n.MaxSockets,
		Deadline:   n.Deadline,
		MaxBytes:   n.MaxBytes,
	}
}
