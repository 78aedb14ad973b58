package egress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ErrRefused is wrapped by every error a Checker returns for a destination
// its policy refuses (as opposed to a failed lookup or dial).
var ErrRefused = errors.New("plugin network access refused")

// Operations, as they appear in refusal log lines and in Refusals.
const (
	OpHTTPCall  = "http_call"
	OpRedisInit = "redis_init"
	OpRedisCall = "redis_call"
	OpGRPCCall  = "grpc_call"
)

// Resolver looks up a host name; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Dialer opens connections; *net.Dialer implements it.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Config is one plugin's outbound policy and what checking it needs. The
// zero Config (with a Plugin name) refuses every literal destination and
// allows every named upstream.
type Config struct {
	// Plugin names the plugin in log lines.
	Plugin string
	// Allow lists the permitted literal destinations: a host name
	// ("api.example.com", "*.example.com"), an IP or a CIDR, each optionally
	// followed by :port (IPv6 with a port in brackets: "[::1]:6379"). No
	// port means any port.
	//
	// A host-name entry permits the addresses that name resolves to, except
	// loopback, link-local, unspecified and multicast addresses and the
	// gateway's own ports: those need an IP or CIDR entry inside the special
	// range ("127.0.0.1/32:6379"; "0.0.0.0/0" does not count) and, for a
	// gateway port, naming the port.
	Allow []string
	// DNS allows destinations given by name (numeric hosts always work).
	DNS bool
	// Upstreams narrows the named upstreams (apisix.yaml upstream ids) the
	// plugin may call: nil allows every one, an empty non-nil slice none.
	Upstreams []string
	// LookupTimeout bounds each name lookup; 0 = the caller's context only.
	LookupTimeout time.Duration
	// Reserved are the gateway's own listeners. An unspecified address means
	// every address of this host.
	Reserved []netip.AddrPort
	// Local are this host's addresses (for Reserved entries on an
	// unspecified address); nil = the addresses of its interfaces.
	Local []netip.Addr
	// Resolver resolves names; nil = a zero net.Resolver (the system's).
	Resolver Resolver
	// Dialer dials checked addresses; nil = a zero net.Dialer.
	Dialer Dialer
	// Logger receives refusals (once per operation, destination and reason);
	// nil discards them.
	Logger *slog.Logger
}

// Checker enforces one plugin's outbound policy. It is safe for concurrent
// use; build it once per plugin with New and share it between every path
// that reaches the network (sockets, Redis, http_call, gRPC).
type Checker struct {
	plugin    string
	rules     []rule
	dns       bool
	upstreams map[string]bool // nil = every named upstream
	timeout   time.Duration
	reserved  []netip.AddrPort
	local     []netip.Addr
	resolver  Resolver
	dialer    Dialer
	refusals  refusals
}

// New compiles cfg. An invalid Allow entry is an error naming it.
func New(cfg Config) (*Checker, error) {
	if cfg.LookupTimeout < 0 {
		return nil, fmt.Errorf("negative lookup timeout %s", cfg.LookupTimeout)
	}
	c := &Checker{
		plugin:   cfg.Plugin,
		dns:      cfg.DNS,
		timeout:  cfg.LookupTimeout,
		local:    cfg.Local,
		resolver: cfg.Resolver,
		dialer:   cfg.Dialer,
	}
	for _, s := range cfg.Allow {
		r, err := parseRule(s)
		if err != nil {
			return nil, err
		}
		c.rules = append(c.rules, r)
	}
	if cfg.Upstreams != nil {
		c.upstreams = make(map[string]bool, len(cfg.Upstreams))
		for _, u := range cfg.Upstreams {
			c.upstreams[u] = true
		}
	}
	for _, ap := range cfg.Reserved {
		c.reserved = append(c.reserved, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
	}
	if c.local == nil {
		c.local = interfaceAddrs()
	}
	if c.resolver == nil {
		c.resolver = &net.Resolver{}
	}
	if c.dialer == nil {
		c.dialer = &net.Dialer{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c.refusals.init(log, cfg.Plugin)
	return c, nil
}

func interfaceAddrs() []netip.Addr {
	var local []netip.Addr
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				local = append(local, p.Addr().Unmap())
			}
		}
	}
	return local
}

// Plugin is the plugin the Checker was built for.
func (c *Checker) Plugin() string { return c.plugin }

// DNS reports whether the policy allows destinations given by name.
func (c *Checker) DNS() bool { return c.dns }

// Check decides whether a:port may be reached. names are the host names a
// is known to stand for (resolved by this plugin); they let host-name
// entries apply. The reason explains a refusal. Check neither logs nor
// counts: callers that refuse call Refuse.
func (c *Checker) Check(a netip.Addr, port uint16, names []string) (bool, string) {
	return c.check(a, port, false, names)
}

// MayReach reports whether some port of a could be allowed (to filter the
// answers of a lookup the plugin makes itself), with the reason when not.
func (c *Checker) MayReach(a netip.Addr, names []string) (bool, string) {
	return c.check(a, 0, true, names)
}

// Upstream checks that the plugin may call the named upstream (an
// apisix.yaml upstream id). Named upstreams are the operator's: every one is
// allowed unless the policy lists the ones it may use.
func (c *Checker) Upstream(op, name string) error {
	if c.upstreams == nil || c.upstreams[name] {
		return nil
	}
	return c.Refuse(op, "upstream "+name, "upstream not in network.upstreams")
}

// Precheck decides what can be decided about host:port without any I/O: an
// IP literal is checked fully; a name is refused when the policy allows no
// DNS or no destination at all. A nil error for a name still needs Resolve.
func (c *Checker) Precheck(op, host string, port int) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("invalid port %d", port)
	}
	dest := net.JoinHostPort(host, strconv.Itoa(port))
	if a, err := netip.ParseAddr(host); err == nil {
		ap := netip.AddrPortFrom(a.Unmap(), uint16(port))
		if ok, reason := c.Check(ap.Addr(), ap.Port(), nil); !ok {
			return c.Refuse(op, ap.String(), reason)
		}
		return nil
	}
	switch {
	case len(c.rules) == 0:
		return c.Refuse(op, dest, "no network policy")
	case !c.dns:
		return c.Refuse(op, dest, "dns not allowed")
	}
	return nil
}

// Resolve checks host:port, host being an IP address or, when the policy
// allows DNS, a name resolved here (bounded by LookupTimeout) with every
// address it resolves to checked; the name's host-name entries apply to
// them. It returns the allowed addresses, to be dialled as they are (never
// resolve the name again: the answer could change). A refusal is logged and
// counted (see Refuse) and the error wraps ErrRefused; op names the
// operation.
func (c *Checker) Resolve(ctx context.Context, op, host string, port int) ([]netip.AddrPort, error) {
	if err := c.Precheck(op, host, port); err != nil {
		return nil, err
	}
	p := uint16(port)
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(a.Unmap(), p)}, nil
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	res, err := c.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", host, err)
	}
	var allowed []netip.AddrPort
	var denied []netip.Addr
	reason := ""
	for _, a := range res {
		a = a.Unmap()
		if ok, why := c.Check(a, p, []string{host}); ok {
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
		return nil, c.Refuse(op, net.JoinHostPort(host, strconv.Itoa(port))+" ("+JoinAddrs(denied)+")", reason)
	}
	return allowed, nil
}

// Dial connects to address ("host:port") over network ("tcp", "tcp4",
// "tcp6") after Resolve: it dials only the addresses Resolve checked, in
// order, and returns the first connection that succeeds. The name is
// resolved once, so an answer that changes between lookups (DNS rebinding)
// cannot get a denied address dialled.
func (c *Checker) Dial(ctx context.Context, op, network, address string) (net.Conn, error) {
	host, ps, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(ps)
	if err != nil {
		return nil, fmt.Errorf("invalid port in %q", address)
	}
	addrs, err := c.Resolve(ctx, op, host, port)
	if err != nil {
		return nil, err
	}
	return c.DialChecked(ctx, network, addrs)
}

// DialChecked dials the first of addrs that answers. addrs must come from
// Resolve.
func (c *Checker) DialChecked(ctx context.Context, network string, addrs []netip.AddrPort) (net.Conn, error) {
	var errs []error
	for _, ap := range addrs {
		if (network == "tcp4" && !ap.Addr().Is4()) || (network == "tcp6" && !ap.Addr().Is6()) {
			continue
		}
		conn, err := c.dialer.DialContext(ctx, network, ap.String())
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("no %s address among %s", network, joinAddrPorts(addrs))
	}
	return nil, errors.Join(errs...)
}

// Refuse logs a refusal of dest by op (once per operation, destination and
// reason; see Refusals for the counts) and returns the error the caller
// hands on, wrapping ErrRefused.
func (c *Checker) Refuse(op, dest, reason string) error {
	c.refusals.add(op, dest, reason)
	return fmt.Errorf("%w: %s: %s", ErrRefused, dest, reason)
}

// Refusals returns how many times each operation was refused since the
// Checker was built (a copy; for metrics and tests).
func (c *Checker) Refusals() map[string]uint64 { return c.refusals.counts() }

// JoinAddrs formats addresses for a log line.
func JoinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, " ")
}

func joinAddrPorts(as []netip.AddrPort) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, " ")
}
