package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// StreamProxy is `apisix.stream_proxy`, the L4 listeners:
//
//	apisix:
//	  stream_proxy:
//	    tcp:
//	      - 9100                 # a port, all interfaces
//	      - "127.0.0.1:9101"     # ip:port
//	      - addr: 9102           # or {addr, tls}
//
// `tls: true` and `udp` are APISIX features Heimdall does not have yet;
// they are rejected rather than ignored.
type StreamProxy struct {
	TCP []Listen
}

// StreamRoute is one entry of apisix.yaml `stream_routes`. Empty match
// fields match anything; a route matches when all of its set fields do.
type StreamRoute struct {
	ID string
	// ServerAddr and ServerPort match the address the client connected to
	// (the listener's local address); 0 / "" match any.
	ServerAddr string
	ServerPort int
	// RemoteAddr matches the client address; written as an IP or a CIDR.
	RemoteAddr    netip.Prefix
	HasRemoteAddr bool
	// SNI is accepted by the schema but only matches on TLS listeners,
	// which Heimdall does not have yet: a route with sni is rejected.
	SNI string

	UpstreamID string
	Upstream   *Upstream

	Line, Column int
}

func (d *decoder) decodeStreamProxy(n *yaml.Node, path string, sp *StreamProxy) {
	d.mapping(n, path,
		field{"tcp", func(v *yaml.Node, p string) { sp.TCP = d.decodeStreamListen(v, p) }},
		field{"udp", func(v *yaml.Node, p string) {
			d.errorf(resolve(v), p, "UDP stream proxying is not supported; remove stream_proxy.udp")
		}},
	)
}

// decodeStreamListen accepts the APISIX shapes of stream_proxy.tcp: a list
// whose items are a port, "ip:port", or {addr: <port or ip:port>, tls: bool}.
func (d *decoder) decodeStreamListen(n *yaml.Node, path string) []Listen {
	items, _ := d.sequence(n, path)
	var out []Listen
	for i, it := range items {
		p := index(path, i)
		it = resolve(it)
		addrNode, addrPath := it, p
		if it.Kind == yaml.MappingNode {
			addrNode = nil
			d.mapping(it, p,
				field{"addr", func(v *yaml.Node, p string) { addrNode, addrPath = resolve(v), p }},
				field{"tls", func(v *yaml.Node, p string) {
					if b, ok := d.boolean(v, p); ok && b {
						d.errorf(resolve(v), p, "TLS stream listeners are not supported; use tls: false")
					}
				}},
			)
			if addrNode == nil {
				d.requireMissing(it, p, "addr")
				continue
			}
		}
		if l, ok := d.streamAddr(addrNode, addrPath); ok {
			out = append(out, l)
		}
	}
	return out
}

func (d *decoder) streamAddr(n *yaml.Node, path string) (Listen, bool) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		port, ok := d.port(n, path)
		return Listen{Port: port}, ok
	}
	s, ok := d.str(n, path)
	if !ok {
		return Listen{}, false
	}
	host, ps, err := net.SplitHostPort(s)
	if err != nil {
		d.errorf(n, path, "invalid address %q; expected a port or ip:port", s)
		return Listen{}, false
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 {
		d.errorf(n, path, "invalid port in %q; allowed: 1-65535", s)
		return Listen{}, false
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			d.errorf(n, path, "invalid IP address %q in %q", host, s)
			return Listen{}, false
		}
	}
	return Listen{IP: host, Port: port}, true
}

func (d *decoder) decodeStreamRoute(n *yaml.Node, path string, upstreams map[string]*Upstream) *StreamRoute {
	n = resolve(n)
	sr := &StreamRoute{Line: n.Line, Column: n.Column}
	var (
		hasID                bool
		upstreamNode, idNode *yaml.Node
		upstreamPath, idPath string
	)
	before := len(d.errs)
	ok := d.mapping(n, path,
		field{"id", func(v *yaml.Node, p string) {
			if s, ok := d.id(v, p); ok {
				sr.ID, hasID = s, true
			}
		}},
		field{"desc", func(v *yaml.Node, p string) { _, _ = d.str(v, p) }},
		field{"server_addr", func(v *yaml.Node, p string) {
			if s, ok := d.str(v, p); ok {
				a, err := netip.ParseAddr(strings.Trim(s, "[]"))
				if err != nil {
					d.errorf(resolve(v), p, "invalid IP address %q", s)
					return
				}
				sr.ServerAddr = a.Unmap().String()
			}
		}},
		field{"server_port", func(v *yaml.Node, p string) { sr.ServerPort, _ = d.port(v, p) }},
		field{"remote_addr", func(v *yaml.Node, p string) {
			s, ok := d.str(v, p)
			if !ok {
				return
			}
			if pfx, err := netip.ParsePrefix(s); err == nil {
				sr.RemoteAddr, sr.HasRemoteAddr = pfx.Masked(), true
				return
			}
			a, err := netip.ParseAddr(s)
			if err != nil {
				d.errorf(resolve(v), p, "invalid remote_addr %q; expected an IP or a CIDR such as 127.0.0.0/8", s)
				return
			}
			a = a.Unmap()
			sr.RemoteAddr, sr.HasRemoteAddr = netip.PrefixFrom(a, a.BitLen()), true
		}},
		field{"sni", func(v *yaml.Node, p string) {
			if s, ok := d.str(v, p); ok {
				sr.SNI = s
				d.errorf(resolve(v), p, "sni matching needs TLS stream listeners, which are not supported; remove sni")
			}
		}},
		field{"upstream", func(v *yaml.Node, p string) { upstreamNode, upstreamPath = v, p }},
		field{"upstream_id", func(v *yaml.Node, p string) {
			if s, ok := d.id(v, p); ok {
				sr.UpstreamID, idNode, idPath = s, resolve(v), p
			}
		}},
		field{"plugins", func(v *yaml.Node, p string) {
			if keys, _, _ := d.pairs(v, p); len(keys) > 0 {
				d.errorf(resolve(v), p, "stream route plugins (proxy-wasm network filters) are not supported yet; remove plugins")
			}
		}},
		d.timestamp("create_time"), d.timestamp("update_time"),
	)
	if !ok {
		return nil
	}
	if !hasID {
		d.requireMissing(n, path, "id")
	}
	switch {
	case upstreamNode != nil && idNode != nil:
		d.errorf(idNode, idPath, "set either upstream or upstream_id, not both")
	case upstreamNode != nil:
		sr.Upstream = d.decodeUpstream(upstreamNode, upstreamPath, false)
	case idNode != nil:
		u, found := upstreams[sr.UpstreamID]
		if !found {
			d.errorf(idNode, idPath, "upstream %q not found in upstreams", sr.UpstreamID)
		}
		sr.Upstream = u
	default:
		d.errorf(n, path, "needs upstream or upstream_id")
	}
	if len(d.errs) > before {
		return nil
	}
	return sr
}
