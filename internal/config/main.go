package config

import (
	"log/slog"
	"net"
	"strconv"
	"time"
)

// Main is config.yaml after decoding, defaulting and validation. Relative
// paths in it (plugin files, certificates, apisix_yaml, the wasm cache
// directory) have been resolved against the directory of config.yaml.
//
// A Main is never modified after it is returned; share it freely.
type Main struct {
	// File is the path config.yaml was loaded from, as given to LoadMain.
	File string

	APISIX      APISIX
	Deployment  Deployment
	NginxConfig NginxConfig
	Heimdall    Heimdall
	Wasm        Wasm
	// PluginAttr is `plugin_attr` (the prometheus exporter); see observability.go.
	PluginAttr PluginAttr
}

// APISIX is the `apisix:` section.
type APISIX struct {
	// NodeListen are the plain HTTP listeners (`apisix.node_listen`), which
	// may be written as a port, a list of ports or a list of {ip, port}.
	// Default: one listener on port 9080, all interfaces.
	NodeListen []Listen
	// SSL is the optional TLS listener (`apisix.ssl`).
	SSL SSL
	// Status is the optional status API listener (`apisix.status`).
	Status Status
	// StreamProxy holds the TCP (L4) listeners of `apisix.stream_proxy`;
	// empty when absent.
	StreamProxy StreamProxy
}

// Listen is one listening address. An empty IP means all interfaces.
type Listen struct {
	IP   string
	Port int
}

// Addr returns the address in the form net.Listen expects ("ip:port" or ":port").
func (l Listen) Addr() string { return net.JoinHostPort(l.IP, strconv.Itoa(l.Port)) }

// SSL is the TLS listener, written as
//
//	apisix:
//	  ssl:
//	    enable: true
//	    listen:              # default [{port: 9443}]
//	      - port: 9443       # ip: may be given as with node_listen
//	    ssl_cert: cert.pem   # PEM certificate chain, relative to config.yaml's directory
//	    ssl_cert_key: key.pem
//
// APISIX keeps certificates in apisix.yaml `ssls` objects; Heimdall takes one
// certificate for the listener here. HTTP/2 is offered through ALPN on it.
type SSL struct {
	Enable  bool
	Listen  []Listen
	Cert    string // ssl_cert, resolved path
	CertKey string // ssl_cert_key, resolved path
	// TrustedCertificate is ssl_trusted_certificate: the CA bundle (PEM,
	// resolved path) that verifies the servers Heimdall itself connects to
	// over TLS (etcd), as in APISIX; empty means the system roots.
	TrustedCertificate string
}

// NginxConfig is the `nginx_config:` section; error_log_level and these
// fields of `http:` are read, with APISIX's defaults (config-default.yaml):
//
//	nginx_config:
//	  http:
//	    client_header_timeout: 60s   # reading a request head; then 408
//	    client_body_timeout: 60s     # between two reads of a request body; then 408
//	    keepalive_timeout: 60s       # an idle client connection (HTTP/1.1 and HTTP/2) is closed
type NginxConfig struct {
	// ErrorLogLevel is the nginx level name as written (default "warn").
	ErrorLogLevel string
	// LogLevel is ErrorLogLevel mapped to slog: debug→Debug, info and
	// notice→Info, warn→Warn, error, crit, alert and emerg→Error.
	LogLevel slog.Level
	HTTP     NginxHTTP
}

// NginxHTTP is `nginx_config.http`.
type NginxHTTP struct {
	// ClientHeaderTimeout bounds reading a request head, from its first
	// byte (from the connection's start for its first request): a client
	// sending a head slowly (slowloris) gets 408 and the connection closes.
	ClientHeaderTimeout time.Duration
	// ClientBodyTimeout bounds the wait for each read of a request body (as
	// nginx: between two successive reads, not the whole body), then 408.
	ClientBodyTimeout time.Duration
	// KeepaliveTimeout closes a client connection idle that long between
	// requests (HTTP/2: without streams).
	KeepaliveTimeout time.Duration
}

// Log formats for Heimdall.LogFormat.
const (
	LogFormatText = "text"
	LogFormatJSON = "json"
)

// Heimdall holds the gateway's own knobs (`heimdall:` section):
//
//	heimdall:
//	  log_format: text                 # text | json
//	  access_log:
//	    enable: true
//	    path: ""                       # "" = standard output; else a file, relative to config.yaml's directory
//	  apisix_yaml: apisix.yaml         # the standalone routes file, relative to config.yaml's directory
//	  wasm_cache_dir: ""               # compiled-plugin cache: "" = the user cache dir (~/.cache/heimdall/wazero), "off" = memory only, else a directory
//	  instance_pool_size: 0            # wasm instances per plugin; 0 = GOMAXPROCS at load time
//	  body_buffer_limit: 1m            # max bytes a plugin may buffer from a body
//	  max_request_body_size: 0         # 0 = unlimited (APISIX client_max_body_size 0); else 413 above it
//	  max_header_size: 32k             # request line + headers; 431 above it
//	  graceful_shutdown_timeout: 30s   # drain time on SIGTERM
//	  dashboard: false                 # standalone mode: serve the web dashboard at http://<admin_listen>/ui/
//
// Sizes are a byte count or a number with a k, m or g suffix (powers of 1024),
// as in nginx. Durations are Go durations ("1.5s", "250ms") or seconds as a number.
type Heimdall struct {
	LogFormat               string
	AccessLog               AccessLog
	APISIXYAML              string
	WasmCacheDir            string
	InstancePoolSize        int
	BodyBufferLimit         int64
	MaxRequestBodySize      int64
	MaxHeaderSize           int64
	GracefulShutdownTimeout time.Duration
	// Dashboard serves the web dashboard at /ui/ on
	// deployment.admin.admin_listen. In the traditional role it is always
	// there, next to the Admin API; in standalone (data_plane) mode the
	// listener is opened for the dashboard only when this is true.
	Dashboard bool
}

// AccessLog configures the per-request access log.
type AccessLog struct {
	Enable bool
	Path   string // "" means standard output
}

// DefaultCallTimeout is wasm.plugins[].call_timeout when not set.
const DefaultCallTimeout = 5 * time.Second

// DefaultMemoryLimit is wasm.plugins[].memory_limit when not set: the
// bundled plugins run in 2-5 MiB; 64 MiB leaves them ample headroom and
// keeps a pool of runaway instances from taking gigabytes.
const DefaultMemoryLimit = 64 << 20

// FailurePolicy is wasm.plugins[].failure_policy.
type FailurePolicy string

// Failure policies.
const (
	FailClosed FailurePolicy = "fail_closed"
	FailOpen   FailurePolicy = "fail_open"
)

// WasmCacheOff as heimdall.wasm_cache_dir keeps compiled plugins in memory only.
const WasmCacheOff = "off"

// Defaults for values not set in config.yaml.
const (
	DefaultListenPort              = 9080
	DefaultSSLPort                 = 9443
	DefaultErrorLogLevel           = "warn"
	DefaultAPISIXYAML              = "apisix.yaml"
	DefaultBodyBufferLimit         = 1 << 20
	DefaultMaxHeaderSize           = 32 << 10
	DefaultGracefulShutdownTimeout = 30 * time.Second
	DefaultClientHeaderTimeout     = 60 * time.Second
	DefaultClientBodyTimeout       = 60 * time.Second
	DefaultKeepaliveTimeout        = 60 * time.Second
)

// Wasm is the `wasm:` section.
type Wasm struct {
	// Plugins in the order they are declared; names are unique.
	Plugins []WasmPlugin
}

// Plugin returns the wasm plugin with the given name.
func (w Wasm) Plugin(name string) (*WasmPlugin, bool) {
	for i := range w.Plugins {
		if w.Plugins[i].Name == name {
			return &w.Plugins[i], true
		}
	}
	return nil, false
}

// Phase is when a wasm plugin runs on the request path (APISIX
// http_request_phase).
type Phase string

// Phases.
const (
	PhaseAccess  Phase = "access"
	PhaseRewrite Phase = "rewrite"
)

// BodyMode says when a plugin sees request and response bodies.
type BodyMode string

// Body modes.
const (
	// BodyAlways calls the plugin's body callbacks for every request.
	BodyAlways BodyMode = "always"
	// BodyOnRequestProperty calls them only when the plugin asked for the body
	// while handling the headers (through a request property).
	BodyOnRequestProperty BodyMode = "on_request_property"
)

// WasmPlugin is one entry of `wasm.plugins`:
//
//	wasm:
//	  plugins:
//	    - name: heimdall                # required, unique; the name routes use
//	      priority: 7999                # required; higher runs first
//	      file: plugins/heimdall.wasm   # required; relative to config.yaml's directory
//	      http_request_phase: access    # access (default) | rewrite
//	      pool_size: 8                  # default heimdall.instance_pool_size
//	      body: always                  # always (default) | on_request_property
//	      failure_policy: fail_closed   # fail_closed (default): 503 | fail_open: skip the plugin
//	      memory_limit: 64m             # linear memory per instance (default 64m)
//	      memory_budget: 0              # all instances together; 0 = pool_size x memory_limit
//	      memory_recycle: 32m           # replace an idle instance grown past it (default memory_limit/2)
//	      max_shared_data_bytes: 64m    # the plugin's vm_id namespace of shared data
//	      max_shared_data_keys: 100000
//	      max_queue_depth: 10000        # items waiting in one shared queue
//	      max_log_line: 16k             # longer proxy_log messages are cut and marked
//	      body_buffer_limit: 0          # 0 = heimdall.body_buffer_limit
//	      restart_backoff: 100ms        # delay before replacing an instance after failures in a row, doubling
//	      restart_backoff_max: 10s
//	      restart_rate: 10              # max instances replaced per second (all of the pool)
//	      network:                      # outbound socket policy; absent = no sockets
//	        allow: ["10.0.0.0/8:6379", "api.example.com:443"]
//	        dns: true
//	        max_sockets: 4
//	        deadline: 2s
//	        max_bytes: 1m
//	      vm_config: {shards: 4}        # string or object; see VMConfig
//
// APISIX resolves a relative `file` against its working directory; Heimdall
// resolves it against the directory of config.yaml so that the two files can
// be moved together. The file is not opened here; the plugin host does that.
type WasmPlugin struct {
	Name     string
	Priority int
	File     string // resolved path
	Phase    Phase
	PoolSize int
	Body     BodyMode
	// CallTimeout bounds one plugin callback (`call_timeout`, default
	// DefaultCallTimeout): an overrunning call is aborted, its request gets
	// 500 and the instance is replaced. 0 turns the protection off, as in
	// Envoy: guest calls are then about 4x cheaper (no termination checks
	// in compiled code), but a plugin stuck in a loop holds its instance
	// and a CPU core for good, and stalls the whole process at the next
	// garbage collection (compiled wasm cannot be preempted). Only for
	// plugins trusted as much as the gateway.
	CallTimeout time.Duration

	// Failure handling and limits (see internal/wasm/host: FailurePolicy,
	// Limits). A trapped instance is always replaced, with backoff.
	//
	// FailurePolicy is `failure_policy` (Envoy's PluginConfig
	// failure_policy FAIL_CLOSED / FAIL_OPEN): what a request gets when
	// the plugin fails on it. fail_closed (the default) answers 503;
	// fail_open skips the plugin for the rest of the request.
	FailurePolicy FailurePolicy
	// MemoryLimit caps one instance's linear memory (`memory_limit`,
	// bytes, rounded up to 64 KiB pages; DefaultMemoryLimit). Growing past
	// it fails in the guest, which normally traps: a handled failure.
	MemoryLimit int64
	// MemoryBudget caps all of the plugin's instances together
	// (`memory_budget`; 0 = pool_size x memory_limit).
	MemoryBudget int64
	// MemoryRecycle: an instance whose memory grew past it is replaced
	// once idle, as wasm memory never shrinks (`memory_recycle`; 0 = half
	// of memory_limit).
	MemoryRecycle int64
	// Host-side limits: shared data bytes and keys of the plugin's vm_id,
	// items in one shared queue, bytes of one log line, and the plugin's
	// own body buffer limit (0 = heimdall.body_buffer_limit). 0 = the
	// host's default (internal/wasm/host.Default*).
	MaxSharedDataBytes int64
	MaxSharedDataKeys  int
	MaxQueueDepth      int
	MaxLogLine         int64
	BodyBufferLimit    int64
	// Replacing failed instances (Envoy's ReloadConfig.backoff): after a
	// second failure in a row a slot waits RestartBackoff, doubling up to
	// RestartBackoffMax; at most RestartRate replacements a second across
	// the pool. 0 = the engine's defaults (100ms, 10s, 10/s).
	RestartBackoff    time.Duration
	RestartBackoffMax time.Duration
	RestartRate       float64

	// Network is nil when the plugin has no network policy (no sockets).
	Network *Network
	// VMConfig is Envoy's vm_config.configuration (`vm_config`): a string
	// as written, or an object encoded as JSON like a route's `conf`. The
	// plugin reads it with proxy_get_buffer_bytes(VmConfiguration) in
	// proxy_on_vm_start. Empty when absent.
	VMConfig string
	// Line and Column locate the entry in config.yaml for later diagnostics.
	Line, Column int
}

// Network is a wasm plugin's outbound policy. It is parsed and validated
// here and enforced by internal/egress for every way out (sockets, Redis,
// proxy_http_call).
type Network struct {
	// Allow lists permitted destinations: a host name, an IP or a CIDR, each
	// optionally followed by :port ("10.0.0.0/8:6379", "[::1]:80",
	// "api.example.com:443", "*.example.com"). No port means any port.
	Allow      []string
	DNS        bool          // may the plugin resolve names
	MaxSockets int           // open sockets per instance; 0 = unlimited
	Deadline   time.Duration // per socket operation; 0 = none
	MaxBytes   int64         // bytes per socket in both directions; 0 = unlimited
	// Upstreams narrows the apisix.yaml upstream ids the plugin may call by
	// name (proxy_http_call, proxy_redis_init): nil (absent) = every one,
	// empty = none. Ids are checked against apisix.yaml when routes are
	// applied: an unknown id is logged as a warning (it may be added later).
	Upstreams []string
	// MaxPendingHTTPCalls bounds the proxy_http_calls of the plugin waiting
	// for an answer; beyond it the call fails with InternalFailure. 0 = the
	// host's default (1024).
	MaxPendingHTTPCalls int
}
