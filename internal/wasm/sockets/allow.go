package sockets

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
)

// ErrRefused is wrapped by the errors Allow returns when the policy refuses
// a destination (as opposed to a failed lookup).
var ErrRefused = errors.New("plugin network access refused")

// Allow checks whether the plugin may connect to host:port over TCP, for
// connections the host opens on the plugin's behalf (for instance the native
// Redis ABI). host is an IP address or, when the policy allows DNS, a name;
// a name is resolved (bounded by the policy deadline) and every address it
// resolves to is checked as sock_connect checks an address the guest
// resolved through sock_getaddrinfo: the name's host-name entries apply, and
// loopback, link-local and the gateway's own ports still need explicit
// entries. It returns the allowed addresses, to be dialled as they are (no
// second lookup). A refusal is logged ("plugin network access refused" with
// plugin, op, destination and reason, like the socket functions) and the
// error wraps ErrRefused. op names the operation in that log line.
func (e *Extension) Allow(ctx context.Context, op, host string, port int) ([]netip.AddrPort, error) {
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("invalid port %d", port)
	}
	p := uint16(port)
	dest := host + ":" + strconv.Itoa(port)
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		ap := netip.AddrPortFrom(a, p)
		if ok, reason := e.policy.check(a, p, false, nil); !ok {
			e.refused(op, ap.String(), reason)
			return nil, fmt.Errorf("%w: %s: %s", ErrRefused, ap, reason)
		}
		return []netip.AddrPort{ap}, nil
	}
	if !e.policy.dns {
		e.refused(op, dest, "dns not allowed")
		return nil, fmt.Errorf("%w: %s: dns not allowed", ErrRefused, dest)
	}
	if d := e.policy.deadline; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	res, err := e.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", host, err)
	}
	var allowed []netip.AddrPort
	var denied []netip.Addr
	reason := ""
	for _, a := range res {
		a = a.Unmap()
		if ok, why := e.policy.check(a, p, false, []string{host}); ok {
			allowed = append(allowed, netip.AddrPortFrom(a, p))
		} else {
			denied = append(denied, a)
			if reason == "" {
				reason = why
			}
		}
	}
	if len(allowed) == 0 {
		if len(denied) == 0 {
			return nil, fmt.Errorf("resolving %s: no addresses", host)
		}
		e.refused(op, dest+" ("+joinAddrs(denied)+")", reason)
		return nil, fmt.Errorf("%w: %s (%s): %s", ErrRefused, dest, joinAddrs(denied), reason)
	}
	return allowed, nil
}
