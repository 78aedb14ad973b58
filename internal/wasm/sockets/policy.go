package sockets

import (
	"time"

	"github.com/heimdallgw/heimdall/internal/config"
)

// Policy is a plugin's network capability. The zero Policy allows nothing:
// no destination, no DNS.
type Policy struct {
	// Allow lists permitted destinations (see egress.Config.Allow): a host
	// name, an IP or a CIDR, each optionally followed by :port. A host-name
	// entry permits the addresses that name resolves to through
	// sock_getaddrinfo in the same instance; loopback, link-local,
	// unspecified and multicast addresses and reserved ports need an IP or
	// CIDR entry inside the special range. Leave it empty when
	// Options.Egress is set.
	Allow []string
	// DNS allows sock_getaddrinfo for names (numeric hosts always work).
	// Leave it false when Options.Egress is set.
	DNS bool
	// MaxSockets bounds the open sockets of one instance; 0 = unlimited.
	MaxSockets int
	// Deadline bounds every blocking socket operation; 0 = none.
	Deadline time.Duration
	// MaxBytes bounds the bytes sent and, separately, the bytes received on
	// one socket; 0 = unlimited.
	MaxBytes int64
}

// LimitsFromConfig is the Policy of a plugin's `network:` section with only
// the socket limits set, for use with Options.Egress (which carries the
// destinations); nil (no section) is the zero Policy.
func LimitsFromConfig(n *config.Network) Policy {
	if n == nil {
		return Policy{}
	}
	return Policy{MaxSockets: n.MaxSockets, Deadline: n.Deadline, MaxBytes: n.MaxBytes}
}
