// Package vars resolves Nginx/APISIX request variables ($uri, $arg_name,
// $http_x_forwarded_for, $cookie_id, $remote_addr, ...) on the engine-neutral
// request model, so that route matching (internal/expr), proxy-rewrite and
// redirect read them the same way on HTTP/1.1 and HTTP/2.
//
// A variable name is parsed once, at config load, into a Var; resolving a Var
// against a Context does not allocate for the request-line and header
// variables.
package vars

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/httpcore"
)

// Kind is the family a variable belongs to.
type Kind uint8

const (
	Arg Kind = iota + 1
	HTTP
	Cookie
	URI
	RequestURI
	Host
	RemoteAddr
	RemotePort
	ServerAddr
	ServerPort
	Scheme
	RequestMethod
	Args
	RouteID
	ServiceID
)

var simple = map[string]Kind{
	"uri":            URI,
	"request_uri":    RequestURI,
	"host":           Host,
	"remote_addr":    RemoteAddr,
	"remote_port":    RemotePort,
	"server_addr":    ServerAddr,
	"server_port":    ServerPort,
	"scheme":         Scheme,
	"request_method": RequestMethod,
	"args":           Args,
	"query_string":   Args,
	"route_id":       RouteID,
	"service_id":     ServiceID,
}

// Var is a parsed variable name.
type Var struct {
	Kind Kind
	// Key is the argument, header (with '-' as written by the client) or
	// cookie name for Arg, HTTP and Cookie; for HTTP it is stored with '_'
	// and compared with '-' and '_' as equal, case-insensitively.
	Key  string
	Name string
}

// Parse turns a variable name (without '$') into a Var.
func Parse(name string) (Var, error) {
	if k, ok := simple[name]; ok {
		return Var{Kind: k, Name: name}, nil
	}
	for _, p := range []struct {
		prefix string
		kind   Kind
	}{{"arg_", Arg}, {"http_", HTTP}, {"cookie_", Cookie}} {
		if key, ok := strings.CutPrefix(name, p.prefix); ok && key != "" {
			if p.kind == HTTP {
				key = strings.ToLower(key)
			}
			return Var{Kind: p.kind, Key: key, Name: name}, nil
		}
	}
	return Var{}, fmt.Errorf("unknown variable %q (supported: arg_*, http_*, cookie_*, uri, request_uri, host, remote_addr, remote_port, server_addr, server_port, scheme, request_method, args, query_string, route_id, service_id)", name)
}

// Context is one request as the variables see it.
type Context struct {
	Req *httpcore.Request
	// RemoteAddr, RemotePort, ServerAddr and ServerPort are the connection's
	// peer and local address, already formatted.
	RemoteAddr, RemotePort []byte
	ServerAddr, ServerPort []byte
	// Peer is the client address parsed, for remote_addrs matching.
	Peer netip.Addr
	// URI is the normalised request path; when nil, the request's path
	// without the query is used.
	URI                []byte
	RouteID, ServiceID string
}

// Get returns the value of v, or false when the request has none (a missing
// header, argument or cookie).
func (c *Context) Get(v Var) ([]byte, bool) {
	r := c.Req
	switch v.Kind {
	case URI:
		if c.URI != nil {
			return c.URI, true
		}
		return r.URLPath(), true
	case RequestURI:
		return r.Path, true
	case Host:
		return hostOnly(r.Authority), len(r.Authority) > 0
	case RemoteAddr:
		return c.RemoteAddr, c.RemoteAddr != nil
	case RemotePort:
		return c.RemotePort, c.RemotePort != nil
	case ServerAddr:
		return c.ServerAddr, c.ServerAddr != nil
	case ServerPort:
		return c.ServerPort, c.ServerPort != nil
	case Scheme:
		return r.Scheme, len(r.Scheme) > 0
	case RequestMethod:
		return r.Method, true
	case Args:
		q := r.Query()
		return q, q != nil
	case RouteID:
		return []byte(c.RouteID), c.RouteID != ""
	case ServiceID:
		return []byte(c.ServiceID), c.ServiceID != ""
	case Arg:
		return arg(r.Query(), v.Key)
	case HTTP:
		for _, f := range r.Header.Fields() {
			if headerEq(f.Name, v.Key) {
				return f.Value, true
			}
		}
		if v.Key == "host" {
			return r.Authority, len(r.Authority) > 0
		}
		return nil, false
	case Cookie:
		var out []byte
		found := false
		r.Header.Values("cookie", func(val []byte) {
			if !found {
				out, found = cookie(val, v.Key)
			}
		})
		return out, found
	}
	return nil, false
}

// hostOnly strips the port from an authority, as Nginx's $host (lower-cased
// by the engines already).
func hostOnly(a []byte) []byte {
	if len(a) > 0 && a[0] == '[' {
		if i := bytes.IndexByte(a, ']'); i > 0 {
			return a[:i+1]
		}
		return a
	}
	if i := bytes.LastIndexByte(a, ':'); i >= 0 {
		return a[:i]
	}
	return a
}

// headerEq compares a stored lower-case header name with a variable key in
// which '_' stands for '-'.
func headerEq(name []byte, key string) bool {
	if len(name) != len(key) {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := name[i]
		if c == '-' {
			c = '_'
		}
		if c != key[i] {
			return false
		}
	}
	return true
}

// arg returns the raw (not percent-decoded, as Nginx's $arg_) value of the
// first query argument named key.
func arg(q []byte, key string) ([]byte, bool) {
	for len(q) > 0 {
		var part []byte
		if i := bytes.IndexByte(q, '&'); i >= 0 {
			part, q = q[:i], q[i+1:]
		} else {
			part, q = q, nil
		}
		name, val := part, []byte{}
		if i := bytes.IndexByte(part, '='); i >= 0 {
			name, val = part[:i], part[i+1:]
		}
		if asciiEqualFold(name, key) {
			return val, true
		}
	}
	return nil, false
}

func cookie(h []byte, key string) ([]byte, bool) {
	for len(h) > 0 {
		var part []byte
		if i := bytes.IndexByte(h, ';'); i >= 0 {
			part, h = h[:i], h[i+1:]
		} else {
			part, h = h, nil
		}
		part = bytes.TrimSpace(part)
		if i := bytes.IndexByte(part, '='); i >= 0 && string(part[:i]) == key {
			return part[i+1:], true
		}
	}
	return nil, false
}

// asciiEqualFold: Nginx matches argument names case-insensitively.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// FromExchange builds the Context of a proxied request: the request as
// the filters see it, the client and listener addresses the server
// recorded.
func FromExchange(x *filter.Exchange) *Context {
	c := &Context{Req: &x.Req, RouteID: x.RouteID}
	if x.ClientIP != "" {
		c.RemoteAddr = []byte(x.ClientIP)
		c.Peer, _ = netip.ParseAddr(x.ClientIP)
	}
	if _, port, err := net.SplitHostPort(x.Client); err == nil {
		c.RemotePort = []byte(port)
	}
	if host, port, err := net.SplitHostPort(x.Local); err == nil {
		c.ServerAddr, c.ServerPort = []byte(host), []byte(port)
	}
	return c
}
