package config

import (
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// logLevels maps nginx error_log levels to slog levels. slog has nothing
// above Error, so crit, alert and emerg all mean "errors only".
var logLevels = []struct {
	name  string
	level slog.Level
}{
	{"debug", slog.LevelDebug},
	{"info", slog.LevelInfo},
	{"notice", slog.LevelInfo},
	{"warn", slog.LevelWarn},
	{"error", slog.LevelError},
	{"crit", slog.LevelError},
	{"alert", slog.LevelError},
	{"emerg", slog.LevelError},
}

func levelNames() []string {
	out := make([]string, len(logLevels))
	for i, l := range logLevels {
		out[i] = l.name
	}
	return out
}

// decodeMain decodes config.yaml's root node into m, applying defaults.
// dir is the directory relative paths are resolved against.
func (d *decoder) decodeMain(root *yaml.Node, m *Main, dir string) {
	m.APISIX.NodeListen = []Listen{{Port: DefaultListenPort}}
	m.Deployment = defaultDeployment()
	m.NginxConfig = NginxConfig{ErrorLogLevel: DefaultErrorLogLevel, LogLevel: slog.LevelWarn,
		HTTP: NginxHTTP{ClientHeaderTimeout: DefaultClientHeaderTimeout, ClientBodyTimeout: DefaultClientBodyTimeout,
			KeepaliveTimeout: DefaultKeepaliveTimeout}}
	m.Heimdall = Heimdall{
		LogFormat:               LogFormatText,
		AccessLog:               AccessLog{Enable: true},
		APISIXYAML:              DefaultAPISIXYAML,
		InstancePoolSize:        runtime.GOMAXPROCS(0),
		BodyBufferLimit:         DefaultBodyBufferLimit,
		MaxHeaderSize:           DefaultMaxHeaderSize,
		GracefulShutdownTimeout: DefaultGracefulShutdownTimeout,
	}
	m.PluginAttr = defaultPluginAttr()

	if root != nil {
		d.mapping(root, "",
			field{"apisix", func(v *yaml.Node, p string) { d.decodeAPISIX(v, p, &m.APISIX, dir) }},
			field{"deployment", func(v *yaml.Node, p string) { d.decodeDeployment(v, p, &m.Deployment, dir) }},
			field{"nginx_config", func(v *yaml.Node, p string) {
				d.mapping(v, p, field{"error_log_level", func(v *yaml.Node, p string) {
					if s, ok := d.oneOf(v, p, "log level", levelNames()...); ok {
						m.NginxConfig.ErrorLogLevel = s
						for _, l := range logLevels {
							if l.name == s {
								m.NginxConfig.LogLevel = l.level
							}
						}
					}
				}}, field{"http", func(v *yaml.Node, p string) {
					h := &m.NginxConfig.HTTP
					timeout := func(dst *time.Duration) func(*yaml.Node, string) {
						return func(v *yaml.Node, p string) {
							if t, ok := d.duration(v, p); ok {
								if t <= 0 {
									d.errorf(resolve(v), p, "must be positive, got %s", t)
									return
								}
								*dst = t
							}
						}
					}
					d.mapping(v, p,
						field{"client_header_timeout", timeout(&h.ClientHeaderTimeout)},
						field{"client_body_timeout", timeout(&h.ClientBodyTimeout)},
						field{"keepalive_timeout", timeout(&h.KeepaliveTimeout)})
				}})
			}},
			field{"heimdall", func(v *yaml.Node, p string) {
				d.decodeHeimdall(v, p, &m.Heimdall)
			}},
			field{"plugin_attr", func(v *yaml.Node, p string) { d.decodePluginAttr(v, p, &m.PluginAttr) }},
			field{"wasm", func(v *yaml.Node, p string) {
				d.mapping(v, p, field{"plugins", func(v *yaml.Node, p string) {
					m.Wasm.Plugins = d.decodeWasmPlugins(v, p)
				}})
			}},
		)
	}

	h := &m.Heimdall
	h.APISIXYAML = resolvePath(dir, h.APISIXYAML)
	if h.WasmCacheDir != WasmCacheOff {
		h.WasmCacheDir = resolvePath(dir, h.WasmCacheDir)
	}
	h.AccessLog.Path = resolvePath(dir, h.AccessLog.Path)
	for i := range m.Wasm.Plugins {
		p := &m.Wasm.Plugins[i]
		p.File = resolvePath(dir, p.File)
		if p.PoolSize == 0 {
			p.PoolSize = h.InstancePoolSize
		}
	}
}

// resolvePath makes p relative to dir unless it is absolute or empty.
func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

func (d *decoder) decodeAPISIX(n *yaml.Node, path string, a *APISIX, dir string) {
	d.mapping(n, path,
		field{"node_listen", func(v *yaml.Node, p string) {
			if ls, ok := d.decodeListen(v, p); ok {
				if len(ls) == 0 {
					d.errorf(resolve(v), p, "needs at least one port")
					return
				}
				a.NodeListen = ls
			}
		}},
		field{"status", func(v *yaml.Node, p string) { d.decodeStatus(v, p, &a.Status) }},
		field{"stream_proxy", func(v *yaml.Node, p string) { d.decodeStreamProxy(v, p, &a.StreamProxy) }},
		field{"ssl", func(v *yaml.Node, p string) {
			var (
				sslNode = resolve(v)
				listen  []Listen
				set     bool
			)
			d.mapping(v, p,
				field{"enable", func(v *yaml.Node, p string) { a.SSL.Enable, _ = d.boolean(v, p) }},
				field{"listen", func(v *yaml.Node, p string) { listen, set = d.decodeListen(v, p) }},
				field{"ssl_cert", func(v *yaml.Node, p string) {
					if s, ok := d.str(v, p); ok {
						a.SSL.Cert = resolvePath(dir, s)
					}
				}},
				field{"ssl_cert_key", func(v *yaml.Node, p string) {
					if s, ok := d.str(v, p); ok {
						a.SSL.CertKey = resolvePath(dir, s)
					}
				}},
				field{"ssl_trusted_certificate", func(v *yaml.Node, p string) {
					if s, ok := d.str(v, p); ok {
						a.SSL.TrustedCertificate = resolvePath(dir, s)
					}
				}},
			)
			if set && len(listen) > 0 {
				a.SSL.Listen = listen
			} else {
				a.SSL.Listen = []Listen{{Port: DefaultSSLPort}}
			}
			if a.SSL.Enable {
				if a.SSL.Cert == "" {
					d.errorf(sslNode, join(p, "ssl_cert"), "required when ssl.enable is true")
				}
				if a.SSL.CertKey == "" {
					d.errorf(sslNode, join(p, "ssl_cert_key"), "required when ssl.enable is true")
				}
			}
		}},
	)
	// A port used twice would fail at listen time with a less helpful message.
	seen := map[string]bool{}
	all := append(append([]Listen(nil), a.NodeListen...), a.SSL.Listen...)
	if !a.SSL.Enable {
		all = append([]Listen(nil), a.NodeListen...)
	}
	all = append(all, a.StreamProxy.TCP...)
	for _, l := range all {
		if seen[l.Addr()] {
			d.errorf(n, path, "address %s is listed more than once", l.Addr())
		}
		seen[l.Addr()] = true
	}
}

// decodeListen accepts the APISIX forms: 9080, [9080, 9081] and
// [{ip: 127.0.0.1, port: 9080}].
func (d *decoder) decodeListen(n *yaml.Node, path string) ([]Listen, bool) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		port, ok := d.port(n, path)
		return []Listen{{Port: port}}, ok
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "expected a port, a list of ports or a list of {ip, port}, got %s", describe(n))
		return nil, false
	}
	out := make([]Listen, 0, len(n.Content))
	ok := true
	for i, it := range n.Content {
		p := index(path, i)
		it = resolve(it)
		if it.Kind == yaml.MappingNode {
			var l Listen
			hasPort := false
			d.mapping(it, p,
				field{"ip", func(v *yaml.Node, p string) {
					if s, ok := d.str(v, p); ok {
						s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
						if _, err := netip.ParseAddr(s); err != nil {
							d.errorf(resolve(v), p, "invalid IP address %q", s)
							return
						}
						l.IP = s
					}
				}},
				field{"port", func(v *yaml.Node, p string) {
					l.Port, hasPort = d.port(v, p)
				}},
			)
			if !hasPort {
				d.requireMissing(it, p, "port")
				ok = false
				continue
			}
			out = append(out, l)
			continue
		}
		port, pok := d.port(it, p)
		if !pok {
			ok = false
			continue
		}
		out = append(out, Listen{Port: port})
	}
	return out, ok
}

func (d *decoder) port(n *yaml.Node, path string) (int, bool) {
	v, ok := d.integer(n, path)
	if !ok {
		return 0, false
	}
	if v < 1 || v > 65535 {
		d.errorf(resolve(n), path, "port %d out of range; allowed: 1-65535", v)
		return 0, false
	}
	return v, true
}

func (d *decoder) decodeHeimdall(n *yaml.Node, path string, h *Heimdall) {
	d.mapping(n, path,
		field{"log_format", func(v *yaml.Node, p string) {
			if s, ok := d.oneOf(v, p, "log format", LogFormatText, LogFormatJSON); ok {
				h.LogFormat = s
			}
		}},
		field{"access_log", func(v *yaml.Node, p string) {
			d.mapping(v, p,
				field{"enable", func(v *yaml.Node, p string) {
					if b, ok := d.boolean(v, p); ok {
						h.AccessLog.Enable = b
					}
				}},
				field{"path", func(v *yaml.Node, p string) {
					if s, ok := d.str(v, p); ok {
						h.AccessLog.Path = s
					}
				}},
			)
		}},
		field{"apisix_yaml", func(v *yaml.Node, p string) {
			if s, ok := d.str(v, p); ok {
				if s == "" {
					d.errorf(resolve(v), p, "must not be empty")
					return
				}
				h.APISIXYAML = s
			}
		}},
		field{"wasm_cache_dir", func(v *yaml.Node, p string) {
			if s, ok := d.str(v, p); ok {
				h.WasmCacheDir = s
			}
		}},
		field{"instance_pool_size", func(v *yaml.Node, p string) {
			if i, ok := d.nonNegInt(v, p); ok {
				if i > 0 { // 0 keeps the GOMAXPROCS default
					h.InstancePoolSize = i
				}
			}
		}},
		field{"body_buffer_limit", func(v *yaml.Node, p string) {
			if s, ok := d.size(v, p); ok {
				// 0 used to become the filter chain's 16 MiB default.
				if s == 0 {
					d.errorf(resolve(v), p, "must be at least 1 byte (the most one plugin may buffer of a body), got 0")
					return
				}
				h.BodyBufferLimit = s
			}
		}},
		field{"max_request_body_size", func(v *yaml.Node, p string) {
			if s, ok := d.size(v, p); ok {
				h.MaxRequestBodySize = s
			}
		}},
		field{"max_header_size", func(v *yaml.Node, p string) {
			if s, ok := d.size(v, p); ok {
				if s < 1024 {
					d.errorf(resolve(v), p, "must be at least 1k, got %d bytes", s)
					return
				}
				h.MaxHeaderSize = s
			}
		}},
		field{"graceful_shutdown_timeout", func(v *yaml.Node, p string) {
			if t, ok := d.duration(v, p); ok {
				h.GracefulShutdownTimeout = t
			}
		}},
		field{"dashboard", func(v *yaml.Node, p string) {
			if b, ok := d.boolean(v, p); ok {
				h.Dashboard = b
			}
		}},
	)
}

// builtinPlugins are the plugins implemented in Go; wasm plugins may not
// take their names.
var builtinPlugins = []string{PluginRealIP, PluginCORS, PluginIPRestriction, PluginProxyRewrite, PluginLimitCount, PluginRedirect, PluginResponseRewrite}

func isBuiltin(name string) bool {
	for _, b := range builtinPlugins {
		if b == name {
			return true
		}
	}
	return false
}

func (d *decoder) decodeWasmPlugins(n *yaml.Node, path string) []WasmPlugin {
	items, _ := d.sequence(n, path)
	out := make([]WasmPlugin, 0, len(items))
	names := map[string]bool{}
	for i, it := range items {
		p := index(path, i)
		it = resolve(it)
		wp := WasmPlugin{Phase: PhaseAccess, Body: BodyAlways, CallTimeout: DefaultCallTimeout,
			FailurePolicy: FailClosed, MemoryLimit: DefaultMemoryLimit, Line: it.Line, Column: it.Column}
		var hasName, hasPriority, hasFile bool
		ok := d.mapping(it, p,
			field{"name", func(v *yaml.Node, p string) {
				s, ok := d.str(v, p)
				switch {
				case !ok:
				case s == "":
					d.errorf(resolve(v), p, "must not be empty")
				case isBuiltin(s):
					d.errorf(resolve(v), p, "%q is the name of a built-in plugin; choose another name", s)
				case names[s]:
					d.errorf(resolve(v), p, "duplicate plugin name %q", s)
				default:
					wp.Name, hasName = s, true
					names[s] = true
				}
			}},
			field{"priority", func(v *yaml.Node, p string) {
				wp.Priority, hasPriority = d.integer(v, p)
			}},
			field{"file", func(v *yaml.Node, p string) {
				s, ok := d.str(v, p)
				if ok && s == "" {
					d.errorf(resolve(v), p, "must not be empty")
					return
				}
				wp.File, hasFile = s, ok
			}},
			field{"http_request_phase", func(v *yaml.Node, p string) {
				if s, ok := d.oneOf(v, p, "phase", string(PhaseAccess), string(PhaseRewrite)); ok {
					wp.Phase = Phase(s)
				}
			}},
			field{"pool_size", func(v *yaml.Node, p string) {
				if i, ok := d.integer(v, p); ok {
					if i < 1 {
						d.errorf(resolve(v), p, "must be >= 1, got %d", i)
						return
					}
					wp.PoolSize = i
				}
			}},
			field{"body", func(v *yaml.Node, p string) {
				if s, ok := d.oneOf(v, p, "body mode", string(BodyAlways), string(BodyOnRequestProperty)); ok {
					wp.Body = BodyMode(s)
				}
			}},
			field{"call_timeout", func(v *yaml.Node, p string) {
				if t, ok := d.duration(v, p); ok {
					wp.CallTimeout = t
				}
			}},
			// Failure handling and limits.
			field{"failure_policy", func(v *yaml.Node, p string) {
				if s, ok := d.oneOf(v, p, "failure policy", string(FailClosed), string(FailOpen)); ok {
					wp.FailurePolicy = FailurePolicy(s)
				}
			}},
			field{"memory_limit", func(v *yaml.Node, p string) {
				if n, ok := d.size(v, p); ok {
					switch {
					case n < 1<<16:
						d.errorf(resolve(v), p, "must be at least 64k (one wasm page), got %s", resolve(v).Value)
					case n > 4<<30:
						d.errorf(resolve(v), p, "must be at most 4g (the wasm32 address space), got %s", resolve(v).Value)
					default:
						wp.MemoryLimit = n
					}
				}
			}},
			field{"memory_budget", func(v *yaml.Node, p string) { wp.MemoryBudget, _ = d.size(v, p) }},
			field{"memory_recycle", func(v *yaml.Node, p string) { wp.MemoryRecycle, _ = d.size(v, p) }},
			field{"max_shared_data_bytes", func(v *yaml.Node, p string) { wp.MaxSharedDataBytes, _ = d.size(v, p) }},
			field{"max_shared_data_keys", func(v *yaml.Node, p string) { wp.MaxSharedDataKeys, _ = d.nonNegInt(v, p) }},
			field{"max_queue_depth", func(v *yaml.Node, p string) { wp.MaxQueueDepth, _ = d.nonNegInt(v, p) }},
			field{"max_log_line", func(v *yaml.Node, p string) { wp.MaxLogLine, _ = d.size(v, p) }},
			field{"body_buffer_limit", func(v *yaml.Node, p string) { wp.BodyBufferLimit, _ = d.size(v, p) }},
			field{"restart_backoff", func(v *yaml.Node, p string) { wp.RestartBackoff, _ = d.duration(v, p) }},
			field{"restart_backoff_max", func(v *yaml.Node, p string) { wp.RestartBackoffMax, _ = d.duration(v, p) }},
			field{"restart_rate", func(v *yaml.Node, p string) {
				if f, ok := d.number(v, p); ok {
					if f < 0 {
						d.errorf(resolve(v), p, "must be >= 0, got %s", resolve(v).Value)
						return
					}
					wp.RestartRate = f
				}
			}},
			field{"network", func(v *yaml.Node, p string) { wp.Network = d.decodeNetwork(v, p) }},
			field{"vm_config", func(v *yaml.Node, p string) {
				if s, ok := d.wasmConf(v, p); ok {
					wp.VMConfig = s
				}
			}},
		)
		if !ok {
			continue
		}
		if !hasName {
			if !isNull(it) { // a present but invalid name was already reported
				d.requireMissing(it, p, "name")
			}
		}
		if !hasPriority {
			d.requireMissing(it, p, "priority")
		}
		if !hasFile {
			d.requireMissing(it, p, "file")
		}
		if hasName && hasPriority && hasFile {
			out = append(out, wp)
		}
	}
	return out
}

// requireMissing reports a required field only when it is absent (a present
// field with a bad value has already been reported).
func (d *decoder) requireMissing(n *yaml.Node, path, name string) {
	n = resolve(n)
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == name {
				return
			}
		}
	}
	d.errorf(n, join(path, name), "required")
}

func (d *decoder) decodeNetwork(n *yaml.Node, path string) *Network {
	nw := &Network{}
	d.mapping(n, path,
		field{"allow", func(v *yaml.Node, p string) {
			items, _ := d.sequence(v, p)
			for i, it := range items {
				s, ok := d.str(it, index(p, i))
				if !ok {
					continue
				}
				if err := checkAllow(s); err != nil {
					d.errorf(resolve(it), index(p, i), "%v", err)
					continue
				}
				nw.Allow = append(nw.Allow, s)
			}
		}},
		field{"dns", func(v *yaml.Node, p string) { nw.DNS, _ = d.boolean(v, p) }},
		field{"max_sockets", func(v *yaml.Node, p string) { nw.MaxSockets, _ = d.nonNegInt(v, p) }},
		field{"deadline", func(v *yaml.Node, p string) { nw.Deadline, _ = d.duration(v, p) }},
		field{"max_bytes", func(v *yaml.Node, p string) { nw.MaxBytes, _ = d.size(v, p) }},
		field{"upstreams", func(v *yaml.Node, p string) {
			items, ok := d.sequence(v, p)
			if !ok {
				return
			}
			nw.Upstreams = []string{} // present: only these (none when empty)
			seen := map[string]bool{}
			for i, it := range items {
				id, ok := d.text(it, index(p, i))
				switch {
				case !ok:
				case id == "":
					d.errorf(resolve(it), index(p, i), "empty upstream id; list apisix.yaml upstream ids")
				case seen[id]:
					d.errorf(resolve(it), index(p, i), "upstream %q listed twice", id)
				default:
					seen[id] = true
					nw.Upstreams = append(nw.Upstreams, id)
				}
			}
		}},
		field{"max_pending_http_calls", func(v *yaml.Node, p string) { nw.MaxPendingHTTPCalls, _ = d.nonNegInt(v, p) }},
	)
	return nw
}

// checkAllow validates a network allow entry: host, IP or CIDR, optionally
// followed by :port; IPv6 addresses with a port are bracketed.
func checkAllow(s string) error {
	const allowed = "allowed: host, *.domain, IP or CIDR, each optionally with :port"
	if s == "" {
		return fmt.Errorf("empty entry; %s", allowed)
	}
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return fmt.Errorf("invalid entry %q: missing ]; %s", s, allowed)
		}
		host, port = s[1:end], s[end+1:]
		if port != "" && !strings.HasPrefix(port, ":") {
			return fmt.Errorf("invalid entry %q; %s", s, allowed)
		}
		port = strings.TrimPrefix(port, ":")
		if port == "" && s[end+1:] != "" {
			return fmt.Errorf("invalid entry %q: empty port; %s", s, allowed)
		}
	} else if strings.Count(s, ":") == 1 {
		host, port, _ = strings.Cut(s, ":")
		if port == "" {
			return fmt.Errorf("invalid entry %q: empty port; %s", s, allowed)
		}
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("invalid port in %q; allowed: 1-65535", s)
		}
	}
	if strings.Contains(host, "/") {
		if _, err := netip.ParsePrefix(host); err != nil {
			return fmt.Errorf("invalid CIDR %q", host)
		}
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if strings.Contains(host, ":") {
		return fmt.Errorf("invalid entry %q: write IPv6 addresses with a port as [addr]:port; %s", s, allowed)
	}
	if !validHostname(strings.TrimPrefix(host, "*.")) {
		return fmt.Errorf("invalid host %q; %s", host, allowed)
	}
	return nil
}

// validHostname reports whether s is a DNS name made of letters, digits,
// hyphens and underscores, with dots between labels.
func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
