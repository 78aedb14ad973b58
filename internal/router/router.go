// Package router matches a request's method, host and path to a route. It
// follows the semantics of APISIX's default radixtree_uri router: an exact
// path beats any prefix, a longer prefix beats a shorter one, and among the
// routes registered for the same path the highest priority whose host and
// method accept the request wins (declaration order breaks ties). When no
// route for the longest matching path accepts the request, shorter prefixes
// are tried in turn.
//
// Callers match the path NormalizePath returns (nginx's $uri), so that no
// encoding of a path can use a route it does not belong to.
//
// A Router is immutable once built, so a new one can be swapped in with an
// atomic pointer while requests still use the old one. Matching does not
// allocate. The package knows nothing about upstreams or plugins: callers
// hang their compiled state on Route.Value.
package router

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"unsafe"

	"github.com/heimdallgw/heimdall/internal/expr"
	"github.com/heimdallgw/heimdall/internal/vars"
)

// Route is one route as given to New and as returned by Match. Match
// returns a pointer to the Router's own copy, which must not be modified.
type Route[T any] struct {
	ID string
	// URIs are "/exact" paths or prefixes ending in "*" ("/api/*", "/*",
	// "/blog/bar*"). A prefix matches every path starting with the part
	// before "*": "/api/*" matches "/api/" and "/api/x" but not "/api".
	URIs []string
	// Hosts are exact host names or "*.example.com" wildcards (which match
	// any depth of subdomain, not example.com itself); empty matches any
	// host. Comparison ignores case and the request's port.
	Hosts []string
	// Methods are upper-case method names; empty matches any method.
	Methods  []string
	Priority int
	// Vars, when set, must hold for the request (APISIX route `vars`).
	Vars *expr.Expr
	// RemoteAddrs, when set, must contain the client address (APISIX
	// `remote_addrs`; single addresses are /32 or /128 prefixes).
	RemoteAddrs []netip.Prefix
	// Value is whatever the caller needs when the route matches.
	Value T
}

// methodBits gives each known method a bit; a route's method set is a mask.
// A request with an unknown method only matches routes without methods.
var methodBits = map[string]uint16{
	"GET": 1 << 0, "POST": 1 << 1, "PUT": 1 << 2, "DELETE": 1 << 3, "PATCH": 1 << 4,
	"HEAD": 1 << 5, "OPTIONS": 1 << 6, "CONNECT": 1 << 7, "TRACE": 1 << 8, "PURGE": 1 << 9,
}

// entry is a route compiled for one of its paths.
type entry[T any] struct {
	route    *Route[T]
	methods  uint16 // 0 = any
	exact    []string
	suffixes []string // ".example.com" for "*.example.com"
	anyHost  bool
	priority int
	order    int
	// cond is set when the route has vars or remote_addrs: such a route
	// only matches through MatchContext.
	cond bool
}

// Router matches requests to routes. The zero value matches nothing.
type Router[T any] struct {
	exact  map[string][]*entry[T]
	prefix map[string][]*entry[T]
	// prefixLens lists the distinct prefix lengths, longest first, so a
	// lookup tries at most one map probe per length.
	prefixLens []int
	routes     []*Route[T]
}

// New compiles routes into a Router. It copies the routes; later changes to
// the slice or its elements do not affect the Router.
func New[T any](routes []Route[T]) (*Router[T], error) {
	r := &Router[T]{exact: map[string][]*entry[T]{}, prefix: map[string][]*entry[T]{}}
	var errs []error
	lens := map[int]bool{}
	for i := range routes {
		rt := routes[i]
		rt.URIs = slices.Clone(rt.URIs)
		rt.Hosts = slices.Clone(rt.Hosts)
		rt.Methods = slices.Clone(rt.Methods)
		r.routes = append(r.routes, &rt)

		e := entry[T]{route: &rt, priority: rt.Priority, order: i, anyHost: len(rt.Hosts) == 0,
			cond: rt.Vars != nil || len(rt.RemoteAddrs) > 0}
		rt.RemoteAddrs = slices.Clone(rt.RemoteAddrs)
		for _, m := range rt.Methods {
			bit, ok := methodBits[m]
			if !ok {
				errs = append(errs, fmt.Errorf("route %q: unknown method %q", rt.ID, m))
				continue
			}
			e.methods |= bit
		}
		for _, h := range rt.Hosts {
			h = strings.ToLower(h)
			if suffix, ok := strings.CutPrefix(h, "*"); ok {
				if !strings.HasPrefix(suffix, ".") || len(suffix) < 2 {
					errs = append(errs, fmt.Errorf("route %q: invalid wildcard host %q", rt.ID, h))
					continue
				}
				e.suffixes = append(e.suffixes, suffix)
				continue
			}
			e.exact = append(e.exact, h)
		}
		if len(rt.URIs) == 0 {
			errs = append(errs, fmt.Errorf("route %q: no uri", rt.ID))
		}
		for _, u := range rt.URIs {
			if !strings.HasPrefix(u, "/") || strings.Contains(strings.TrimSuffix(u, "*"), "*") {
				errs = append(errs, fmt.Errorf("route %q: invalid uri %q", rt.ID, u))
				continue
			}
			ep := &e
			if p, ok := strings.CutSuffix(u, "*"); ok {
				r.prefix[p] = append(r.prefix[p], ep)
				lens[len(p)] = true
			} else {
				r.exact[u] = append(r.exact[u], ep)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for l := range lens {
		r.prefixLens = append(r.prefixLens, l)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(r.prefixLens)))
	for _, m := range []map[string][]*entry[T]{r.exact, r.prefix} {
		for _, es := range m {
			sort.SliceStable(es, func(i, j int) bool {
				if es[i].priority != es[j].priority {
					return es[i].priority > es[j].priority
				}
				return es[i].order < es[j].order
			})
		}
	}
	return r, nil
}

// Conditional reports whether some route has Vars or RemoteAddrs, so the
// caller needs MatchContext.
func (r *Router[T]) Conditional() bool {
	for _, rt := range r.routes {
		if rt.Vars != nil || len(rt.RemoteAddrs) > 0 {
			return true
		}
	}
	return false
}

// Routes returns the routes in the order given to New.
func (r *Router[T]) Routes() []*Route[T] { return r.routes }

// Match returns the route for a request, or nil. path is the request path
// without the query string; host is the Host header (a port is ignored).
//
// Routes with Vars or RemoteAddrs never match here; use MatchContext.
func (r *Router[T]) Match(method, host, path string) *Route[T] {
	return r.MatchContext(method, host, path, nil)
}

// MatchContext is Match that also checks the routes' Vars and RemoteAddrs
// against c (c.Peer is the client address). Like APISIX's radixtree, the
// conditions are one more filter in the same walk: for each candidate path,
// routes are tried by priority and the first whose host, method, remote
// address and vars all accept the request wins. Routes without conditions
// cost nothing extra.
func (r *Router[T]) MatchContext(method, host, path string, c *vars.Context) *Route[T] {
	if r == nil {
		return nil
	}
	host = stripPort(host)
	bit := methodBits[method]
	if es, ok := r.exact[path]; ok {
		if e := pick(es, bit, host, c); e != nil {
			return e.route
		}
	}
	for _, l := range r.prefixLens {
		if l > len(path) {
			continue
		}
		if es, ok := r.prefix[path[:l]]; ok {
			if e := pick(es, bit, host, c); e != nil {
				return e.route
			}
		}
	}
	return nil
}

// MatchBytes is Match for byte slices, as HTTP engines hand them out. The
// slices are only read during the call.
func (r *Router[T]) MatchBytes(method, host, path []byte) *Route[T] {
	return r.Match(bytesToString(method), bytesToString(host), bytesToString(path))
}

// bytesToString views b as a string without copying; safe because the
// string does not outlive the call and b is not modified during it.
func bytesToString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func pick[T any](es []*entry[T], bit uint16, host string, c *vars.Context) *entry[T] {
	for _, e := range es {
		if e.methods != 0 && e.methods&bit == 0 {
			continue
		}
		if !e.anyHost && !e.matchHost(host) {
			continue
		}
		if e.cond && (c == nil || !e.matchCond(c)) {
			continue
		}
		return e
	}
	return nil
}

func (e *entry[T]) matchCond(c *vars.Context) bool {
	if rs := e.route.RemoteAddrs; len(rs) > 0 {
		ok := false
		if c.Peer.IsValid() {
			a := c.Peer.Unmap()
			for _, p := range rs {
				if p.Contains(a) {
					ok = true
					break
				}
			}
		}
		if !ok {
			return false
		}
	}
	return e.route.Vars.Eval(c)
}

func (e *entry[T]) matchHost(host string) bool {
	for _, h := range e.exact {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	for _, s := range e.suffixes {
		if len(host) > len(s) && strings.EqualFold(host[len(host)-len(s):], s) {
			return true
		}
	}
	return false
}

// stripPort removes a trailing ":port" and a trailing dot, keeping IPv6
// brackets: "Example.com:8080" → "Example.com", "[::1]:80" → "[::1]".
func stripPort(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	return strings.TrimSuffix(host, ".")
}
