package config

import (
	"net/netip"
	"regexp"
	"time"

	"github.com/heimdallgw/heimdall/internal/expr"
)

// Routes is apisix.yaml (standalone mode) after decoding, defaulting and
// cross-reference validation. It is never modified after it is returned.
type Routes struct {
	// File is the path apisix.yaml was loaded from.
	File string
	// Routes in declaration order.
	Routes []*Route
	// Upstreams are the named upstreams of the `upstreams` section, in
	// declaration order. Inline upstreams of routes are not listed here.
	Upstreams []*Upstream
	// Services and PluginConfigs are the `services` and `plugin_configs`
	// sections; Routes already carry what they inherit from them.
	Services      []*Service
	PluginConfigs []*PluginConfig
	// EnabledPlugins is the optional `plugins` section (a list of
	// {name: ...}); nil when absent. When present, routes may only use the
	// plugins it lists.
	EnabledPlugins []string
	// StreamRoutes are the `stream_routes` (TCP proxying), in declaration
	// order; they are served on apisix.stream_proxy.tcp listeners.
	StreamRoutes []*StreamRoute
}

// Route is one entry of `routes`.
type Route struct {
	ID   string // ids may be written as numbers; they are kept as text
	Name string
	Desc string
	// URIs is `uri` followed by `uris`. Each is "/exact" or a prefix ending
	// in "*" ("/prefix/*", "/*").
	URIs []string
	// Methods are upper-case HTTP methods; empty means any method.
	Methods []string
	// Hosts is `host` followed by `hosts`, lower-cased: exact names or
	// "*.example.com" wildcards. Empty means any host.
	Hosts    []string
	Priority int
	// Vars is the compiled `vars` condition (nil: none); RemoteAddrs is
	// `remote_addr` followed by `remote_addrs` (single addresses as /32 or
	// /128 prefixes).
	Vars        *expr.Expr
	RemoteAddrs []netip.Prefix
	// Enabled is false for `status: 0`; disabled routes must not match.
	Enabled bool
	Labels  map[string]string

	// ServiceID and PluginConfigID name the service and plugin config the
	// route takes upstream, hosts and plugins from (see Service); empty
	// when none. Upstream, Hosts, ProxyRewrite and Wasm already include
	// what they give.
	ServiceID      string
	PluginConfigID string

	// UpstreamID is the referenced upstream's id; empty for an inline upstream.
	UpstreamID string
	// Upstream is the inline upstream or the one UpstreamID refers to (the
	// same pointer as in Routes.Upstreams).
	Upstream *Upstream

	// ProxyRewrite is the built-in proxy-rewrite plugin; nil when absent.
	ProxyRewrite *ProxyRewrite
	// LimitCount is the built-in limit-count plugin; nil when absent.
	LimitCount *LimitCount
	// IPRestriction is the built-in ip-restriction plugin; nil when absent.
	IPRestriction *IPRestriction
	// CORS is the built-in cors plugin; nil when absent.
	CORS *CORS
	// ResponseRewrite is the built-in response-rewrite plugin; nil when absent.
	ResponseRewrite *ResponseRewrite
	// Redirect is the built-in redirect plugin; nil when absent.
	Redirect *Redirect
	// RealIP is the built-in real-ip plugin; nil when absent.
	RealIP *RealIP
	// Wasm are the wasm plugins attached to the route, ordered by priority,
	// highest first (the order they run in), then by name.
	Wasm []RouteWasm

	Line, Column int
}

// RouteWasm is a wasm plugin attached to a route.
type RouteWasm struct {
	Name string
	// Conf is what the plugin receives as its configuration: a string `conf`
	// as written, an object `conf` encoded as JSON (the APISIX rule).
	Conf string
	// Plugin is the declaration in config.yaml.
	Plugin *WasmPlugin
}

// Balancer types.
const (
	BalancerRoundRobin = "roundrobin"
	BalancerCHash      = "chash"
)

// chash hash_on values.
const (
	HashOnVars   = "vars"
	HashOnHeader = "header"
	HashOnCookie = "cookie"
)

// pass_host values.
const (
	PassHostPass    = "pass"
	PassHostNode    = "node"
	PassHostRewrite = "rewrite"
)

// Upstream defaults (those of APISIX).
const (
	DefaultTimeout                  = 60 * time.Second
	DefaultKeepalivePoolSize        = 320
	DefaultKeepalivePoolIdleTimeout = 60 * time.Second
	DefaultKeepalivePoolRequests    = 1000
)

// Upstream is an entry of `upstreams` or a route's inline `upstream`.
type Upstream struct {
	ID    string // empty for inline upstreams
	Name  string
	Desc  string
	Nodes []Node
	// Type is BalancerRoundRobin (weighted, the default) or BalancerCHash.
	Type string
	// HashOn and Key select the chash key: vars (default) with an nginx
	// variable name such as remote_addr (default), uri, host, arg_x,
	// http_x_user or cookie_x; header with a header name; cookie with a
	// cookie name.
	HashOn string
	Key    string
	Scheme string // "http" (default) or "https"
	// Timeout defaults to 60s for each of connect, send and read.
	Timeout Timeout
	// Retries is how many other nodes to try after a failure. APISIX's
	// default applies when it is not set: the number of nodes minus one.
	Retries int
	// RetryTimeout bounds the time spent retrying; 0 means no bound.
	RetryTimeout time.Duration
	// PassHost is pass (default: the client's Host), node (the node's
	// host:port) or rewrite (UpstreamHost).
	PassHost      string
	UpstreamHost  string
	KeepalivePool KeepalivePool

	Line, Column int
}

// Node is one upstream server. Weight 0 keeps a node configured but unused.
type Node struct {
	Host   string // name or IP, without brackets
	Port   int
	Weight int
}

// Timeout holds upstream timeouts.
type Timeout struct {
	Connect time.Duration
	Send    time.Duration
	Read    time.Duration
}

// KeepalivePool sizes the idle connections kept per upstream.
type KeepalivePool struct {
	Size        int
	IdleTimeout time.Duration
	Requests    int // requests per connection before it is closed
}

// ProxyRewrite is the built-in proxy-rewrite plugin:
//
//	proxy-rewrite:
//	  uri: /new/path                       # replaces the path (takes precedence over regex_uri)
//	  regex_uri: ["^/httpbin/(.*)", "/$1"] # pairs of regex and replacement, first match wins
//	  host: example.com                    # upstream Host header
//	  method: POST
//	  headers:                             # either a map (set; "" removes, as in old APISIX)
//	    set: {X-Api: v1}                   # or set / add / remove
//	    add: {X-Trace: "1"}
//	    remove: [X-Debug]
type ProxyRewrite struct {
	URI      string
	RegexURI []RegexURI
	Host     string
	Method   string
	Headers  HeaderRewrite
}

// RegexURI rewrites the path when Regex matches it.
type RegexURI struct {
	Regex *regexp.Regexp
	// Template is the replacement converted to regexp.Expand syntax: APISIX's
	// "$1" becomes "${1}" so that "$1abc" means group 1 followed by "abc".
	Template string
	// Replacement is the replacement as written.
	Replacement string
}

// Rewrite returns the rewritten path and whether r matched.
func (r RegexURI) Rewrite(path string) (string, bool) {
	dst, ok := r.AppendRewrite(nil, path)
	return string(dst), ok
}

// AppendRewrite appends the rewritten path to dst, for callers that reuse a
// buffer. Like ngx.re.sub, only the first match is replaced and the rest of
// the path is kept. When r does not match, dst is returned unchanged.
func (r RegexURI) AppendRewrite(dst []byte, path string) ([]byte, bool) {
	m := r.Regex.FindStringSubmatchIndex(path)
	if m == nil {
		return dst, false
	}
	dst = append(dst, path[:m[0]]...)
	dst = r.Regex.ExpandString(dst, r.Template, path, m)
	dst = append(dst, path[m[1]:]...)
	return dst, true
}

// HeaderRewrite is the headers part of proxy-rewrite. Set and Add keep the
// order in which they are written.
type HeaderRewrite struct {
	Set    []Header
	Add    []Header
	Remove []string
}

// Header is a header name and value.
type Header struct {
	Name  string
	Value string
}

// Built-in plugin names.
const (
	PluginProxyRewrite = "proxy-rewrite"
)
