package config

import (
	"errors"
	"log/slog"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestLoadDemoConfig(t *testing.T) {
	m, r, err := Load("../../conf/config.yaml")
	if err != nil {
		t.Fatalf("loading demo config: %v", err)
	}
	if got := m.APISIX.NodeListen; len(got) != 1 || got[0].Addr() != ":9080" {
		t.Errorf("node_listen = %+v, want :9080", got)
	}
	if len(r.Routes) != 1 || r.Routes[0].ID != "1" {
		t.Fatalf("routes = %+v, want one route with id 1", r.Routes)
	}
	rt := r.Routes[0]
	if rt.Upstream == nil || len(rt.Upstream.Nodes) != 1 || rt.Upstream.Nodes[0] != (Node{Host: "127.0.0.1", Port: 8080, Weight: 1}) {
		t.Errorf("upstream = %+v", rt.Upstream)
	}
	if rt.ProxyRewrite == nil || len(rt.ProxyRewrite.RegexURI) != 1 {
		t.Fatalf("proxy-rewrite = %+v", rt.ProxyRewrite)
	}
	if got, ok := rt.ProxyRewrite.RegexURI[0].Rewrite("/httpbin/get"); !ok || got != "/get" {
		t.Errorf("rewrite /httpbin/get = %q, %v; want /get", got, ok)
	}
	if len(rt.Wasm) != 1 || rt.Wasm[0].Name != "heimdall" || rt.Wasm[0].Conf != `{"max_body_bytes":4096}` {
		t.Errorf("wasm = %+v", rt.Wasm)
	}
	if want := filepath.Join("..", "..", "build", "plugins", "heimdall.wasm"); rt.Wasm[0].Plugin.File != want {
		t.Errorf("plugin file = %q, want %q (relative to conf/)", rt.Wasm[0].Plugin.File, want)
	}
}

func TestParseMainDefaults(t *testing.T) {
	gomax := runtime.GOMAXPROCS(0)
	defaults := func() Main {
		return Main{
			File:       "conf/config.yaml",
			APISIX:     APISIX{NodeListen: []Listen{{Port: 9080}}},
			Deployment: defaultDeployment(),
			NginxConfig: NginxConfig{ErrorLogLevel: "warn", LogLevel: slog.LevelWarn,
				HTTP: NginxHTTP{ClientHeaderTimeout: time.Minute, ClientBodyTimeout: time.Minute, KeepaliveTimeout: time.Minute}},
			Heimdall: Heimdall{
				LogFormat:               "text",
				AccessLog:               AccessLog{Enable: true},
				APISIXYAML:              "conf/apisix.yaml",
				InstancePoolSize:        gomax,
				BodyBufferLimit:         1 << 20,
				MaxHeaderSize:           32 << 10,
				GracefulShutdownTimeout: 30 * time.Second,
			},
			PluginAttr: PluginAttr{Prometheus: Prometheus{
				ExportURI: "/apisix/prometheus/metrics", MetricPrefix: "apisix_", EnableExportServer: true,
				ExportAddr:     Listen{IP: "127.0.0.1", Port: 9091},
				DefaultBuckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000},
			}},
		}
	}
	tests := []struct {
		name string
		yaml string
		want func(m *Main)
	}{
		{name: "empty file", yaml: "", want: func(*Main) {}},
		{name: "list of ports", yaml: "apisix:\n  node_listen: [9080, 9081]\n", want: func(m *Main) {
			m.APISIX.NodeListen = []Listen{{Port: 9080}, {Port: 9081}}
		}},
		{name: "ip and port objects and ssl", yaml: `
apisix:
  node_listen:
    - ip: 127.0.0.1
      port: 9080
    - ip: "[::1]"
      port: 9080
  ssl:
    enable: true
    ssl_cert: tls/cert.pem
    ssl_cert_key: /etc/key.pem
`, want: func(m *Main) {
			m.APISIX.NodeListen = []Listen{{IP: "127.0.0.1", Port: 9080}, {IP: "::1", Port: 9080}}
			m.APISIX.SSL = SSL{Enable: true, Listen: []Listen{{Port: 9443}}, Cert: "conf/tls/cert.pem", CertKey: "/etc/key.pem"}
		}},
		{name: "log level and heimdall knobs", yaml: `
nginx_config:
  error_log_level: notice
  http: {client_header_timeout: 10s, client_body_timeout: 2.5, keepalive_timeout: 75s}
heimdall:
  log_format: json
  access_log: {enable: false, path: logs/access.log}
  apisix_yaml: /etc/heimdall/routes.yaml
  wasm_cache_dir: cache
  instance_pool_size: 4
  body_buffer_limit: 64k
  max_request_body_size: 10m
  max_header_size: 8192
  graceful_shutdown_timeout: 1.5
`, want: func(m *Main) {
			m.NginxConfig = NginxConfig{ErrorLogLevel: "notice", LogLevel: slog.LevelInfo,
				HTTP: NginxHTTP{ClientHeaderTimeout: 10 * time.Second, ClientBodyTimeout: 2500 * time.Millisecond, KeepaliveTimeout: 75 * time.Second}}
			m.Heimdall = Heimdall{
				LogFormat: "json", AccessLog: AccessLog{Path: "conf/logs/access.log"},
				APISIXYAML: "/etc/heimdall/routes.yaml", WasmCacheDir: "conf/cache", InstancePoolSize: 4,
				BodyBufferLimit: 64 << 10, MaxRequestBodySize: 10 << 20, MaxHeaderSize: 8192,
				GracefulShutdownTimeout: 1500 * time.Millisecond,
			}
		}},
		{name: "prometheus exporter and status API", yaml: `
apisix:
  status: {port: 7086}
plugin_attr:
  prometheus:
    export_uri: /m
    metric_prefix: gw_
    enable_export_server: false
    export_addr: {ip: "::1", port: 9999}
    default_buckets: [0.5, 3, 7]
`, want: func(m *Main) {
			m.APISIX.Status = Status{Enable: true, Listen: Listen{IP: "127.0.0.1", Port: 7086}}
			m.PluginAttr.Prometheus = Prometheus{
				ExportURI: "/m", MetricPrefix: "gw_", ExportAddr: Listen{IP: "::1", Port: 9999},
				DefaultBuckets: []float64{0.5, 3, 7},
			}
		}},
		{name: "status API defaults", yaml: "apisix:\n  status:\n", want: func(m *Main) {
			m.APISIX.Status = Status{Enable: true, Listen: Listen{IP: "127.0.0.1", Port: 7085}}
		}},
		{name: "wasm plugin defaults and network", yaml: `
heimdall:
  instance_pool_size: 3
wasm:
  plugins:
    - name: a
      priority: 10
      file: a.wasm
    - name: b
      priority: -1
      file: /abs/b.wasm
      http_request_phase: rewrite
      pool_size: 7
      body: on_request_property
      call_timeout: 0
      network:
        allow: ["10.0.0.0/8:6379", "[::1]:80", "api.example.com:443", "*.example.com", "192.168.1.1"]
        dns: true
        max_sockets: 4
        deadline: 250ms
        max_bytes: 1m
        upstreams: [auth, 7]
        max_pending_http_calls: 16
`, want: func(m *Main) {
			m.Heimdall.InstancePoolSize = 3
			m.Wasm.Plugins = []WasmPlugin{
				{Name: "a", Priority: 10, File: "conf/a.wasm", Phase: PhaseAccess, PoolSize: 3, Body: BodyAlways, CallTimeout: DefaultCallTimeout,
					FailurePolicy: FailClosed, MemoryLimit: DefaultMemoryLimit, Line: 6, Column: 7},
				{Name: "b", Priority: -1, File: "/abs/b.wasm", Phase: PhaseRewrite, PoolSize: 7, Body: BodyOnRequestProperty,
					FailurePolicy: FailClosed, MemoryLimit: DefaultMemoryLimit,
					Network: &Network{
						Allow: []string{"10.0.0.0/8:6379", "[::1]:80", "api.example.com:443", "*.example.com", "192.168.1.1"},
						DNS:   true, MaxSockets: 4, Deadline: 250 * time.Millisecond, MaxBytes: 1 << 20,
						Upstreams: []string{"auth", "7"}, MaxPendingHTTPCalls: 16,
					},
					Line: 9, Column: 7},
			}
		}},
		{name: "wasm plugin failure policy and limits", yaml: `
wasm:
  plugins:
    - name: a
      priority: 10
      file: a.wasm
      pool_size: 2
      failure_policy: fail_open
      memory_limit: 16m
      memory_budget: 24m
      memory_recycle: 8m
      max_shared_data_bytes: 1m
      max_shared_data_keys: 100
      max_queue_depth: 5
      max_log_line: 1k
      body_buffer_limit: 256k
      restart_backoff: 50ms
      restart_backoff_max: 2s
      restart_rate: 2.5
`, want: func(m *Main) {
			m.Wasm.Plugins = []WasmPlugin{{
				Name: "a", Priority: 10, File: "conf/a.wasm", Phase: PhaseAccess, PoolSize: 2, Body: BodyAlways, CallTimeout: DefaultCallTimeout,
				FailurePolicy: FailOpen, MemoryLimit: 16 << 20, MemoryBudget: 24 << 20, MemoryRecycle: 8 << 20,
				MaxSharedDataBytes: 1 << 20, MaxSharedDataKeys: 100, MaxQueueDepth: 5, MaxLogLine: 1 << 10, BodyBufferLimit: 256 << 10,
				RestartBackoff: 50 * time.Millisecond, RestartBackoffMax: 2 * time.Second, RestartRate: 2.5,
				Line: 4, Column: 7,
			}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMain("conf/config.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatalf("ParseMain: %v", err)
			}
			want := defaults()
			tt.want(&want)
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("got\n%+v\nwant\n%+v", *got, want)
			}
		})
	}
}

func TestParseRoutes(t *testing.T) {
	m, err := ParseMain("conf/config.yaml", []byte("wasm:\n  plugins:\n    - {name: lo, priority: 1, file: lo.wasm}\n    - {name: hi, priority: 100, file: hi.wasm}\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, r *Routes)
	}{
		{name: "only #END", yaml: "#END\n", check: func(t *testing.T, r *Routes) {
			if len(r.Routes) != 0 || r.EnabledPlugins != nil {
				t.Errorf("got %+v", r)
			}
		}},
		{name: "inline upstream defaults", yaml: `
routes:
  - id: r1
    uri: /a
    uris: [/b, /c/*]
    host: API.example.com
    hosts: ["*.example.com"]
    methods: [GET, POST]
    priority: 5
    status: 0
    labels: {team: edge, version: 2}
    upstream:
      nodes:
        "10.0.0.1": 1
        "[::1]:8080": 2
#END
`, check: func(t *testing.T, r *Routes) {
			rt := r.Routes[0]
			if !reflect.DeepEqual(rt.URIs, []string{"/a", "/b", "/c/*"}) || !reflect.DeepEqual(rt.Hosts, []string{"api.example.com", "*.example.com"}) ||
				!reflect.DeepEqual(rt.Methods, []string{"GET", "POST"}) || rt.Priority != 5 || rt.Enabled || rt.Labels["version"] != "2" {
				t.Errorf("route = %+v", rt)
			}
			want := &Upstream{
				Nodes: []Node{{Host: "10.0.0.1", Port: 80, Weight: 1}, {Host: "::1", Port: 8080, Weight: 2}},
				Type:  "roundrobin", Scheme: "http", PassHost: "pass", Retries: 1,
				Timeout:       Timeout{60 * time.Second, 60 * time.Second, 60 * time.Second},
				KeepalivePool: KeepalivePool{Size: 320, IdleTimeout: 60 * time.Second, Requests: 1000},
				Line:          13, Column: 7,
			}
			if !reflect.DeepEqual(rt.Upstream, want) {
				t.Errorf("upstream =\n%+v\nwant\n%+v", rt.Upstream, want)
			}
		}},
		{name: "named chash upstream with list nodes", yaml: `
upstreams:
  - id: 7
    type: chash
    hash_on: header
    key: X-User
    scheme: https
    timeout: {connect: 0.5, send: 2, read: 30}
    retries: 0
    retry_timeout: 1.5
    pass_host: rewrite
    upstream_host: example.com:8443
    keepalive_pool: {size: 10, idle_timeout: 5, requests: 50}
    nodes:
      - {host: a.internal, weight: 1}
      - {host: 10.0.0.2, port: 8443, weight: 0}
routes:
  - id: 1
    uri: /*
    upstream_id: 7
#END
`, check: func(t *testing.T, r *Routes) {
			u := r.Upstreams[0]
			if r.Routes[0].Upstream != u || r.Routes[0].UpstreamID != "7" {
				t.Errorf("route does not point to upstream 7")
			}
			if u.Type != "chash" || u.HashOn != "header" || u.Key != "X-User" || u.Scheme != "https" ||
				u.Timeout != (Timeout{500 * time.Millisecond, 2 * time.Second, 30 * time.Second}) || u.Retries != 0 ||
				u.RetryTimeout != 1500*time.Millisecond || u.PassHost != "rewrite" || u.UpstreamHost != "example.com:8443" ||
				u.KeepalivePool != (KeepalivePool{10, 5 * time.Second, 50}) ||
				!reflect.DeepEqual(u.Nodes, []Node{{"a.internal", 443, 1}, {"10.0.0.2", 8443, 0}}) {
				t.Errorf("upstream = %+v", u)
			}
		}},
		{name: "chash defaults to remote_addr", yaml: `
upstreams:
  - {id: 1, type: chash, nodes: {"127.0.0.1:1": 1}}
#END
`, check: func(t *testing.T, r *Routes) {
			if u := r.Upstreams[0]; u.HashOn != "vars" || u.Key != "remote_addr" {
				t.Errorf("hash_on %q key %q", u.HashOn, u.Key)
			}
		}},
		{name: "plugins: proxy-rewrite forms and wasm order", yaml: `
plugins:
  - name: proxy-rewrite
  - name: lo
  - name: hi
routes:
  - id: 1
    uri: /x
    upstream: {nodes: {"127.0.0.1:1": 1}}
    plugins:
      lo:
        conf: "raw string"
      hi:
        conf:
          a: [1, 2.5, true, null, "s"]
          b: {c: d}
      proxy-rewrite:
        uri: /y
        host: up.example.com
        method: POST
        headers:
          X-Set: v
          X-Num: 2
          X-Drop: ""
  - id: 2
    uri: /z
    upstream: {nodes: {"127.0.0.1:1": 1}}
    plugins:
      proxy-rewrite:
        regex_uri: ["^/z/(\\w+)/(.*)", "/${2}x$1", "^/(.*)", "/p/$1$$"]
        headers:
          set: {X-A: "1"}
          add: {X-B: "2"}
          remove: [X-C]
#END
`, check: func(t *testing.T, r *Routes) {
			if !reflect.DeepEqual(r.EnabledPlugins, []string{"proxy-rewrite", "lo", "hi"}) {
				t.Errorf("enabled = %v", r.EnabledPlugins)
			}
			rt := r.Routes[0]
			if len(rt.Wasm) != 2 || rt.Wasm[0].Name != "hi" || rt.Wasm[1].Name != "lo" {
				t.Fatalf("wasm order = %+v, want hi then lo", rt.Wasm)
			}
			if rt.Wasm[0].Conf != `{"a":[1,2.5,true,null,"s"],"b":{"c":"d"}}` || rt.Wasm[1].Conf != "raw string" {
				t.Errorf("confs = %q, %q", rt.Wasm[0].Conf, rt.Wasm[1].Conf)
			}
			pr := rt.ProxyRewrite
			if pr.URI != "/y" || pr.Host != "up.example.com" || pr.Method != "POST" ||
				!reflect.DeepEqual(pr.Headers, HeaderRewrite{Set: []Header{{"X-Set", "v"}, {"X-Num", "2"}}, Remove: []string{"X-Drop"}}) {
				t.Errorf("proxy-rewrite = %+v", pr)
			}
			pr = r.Routes[1].ProxyRewrite
			if got, _ := pr.RegexURI[0].Rewrite("/z/ab/rest"); got != "/restxab" {
				t.Errorf("regex 0 = %q", got)
			}
			if got, _ := pr.RegexURI[1].Rewrite("/q"); got != "/p/q$" {
				t.Errorf("regex 1 = %q", got)
			}
			if _, ok := pr.RegexURI[0].Rewrite("/nomatch"); ok {
				t.Errorf("regex 0 matched /nomatch")
			}
			if !reflect.DeepEqual(pr.Headers, HeaderRewrite{Set: []Header{{"X-A", "1"}}, Add: []Header{{"X-B", "2"}}, Remove: []string{"X-C"}}) {
				t.Errorf("headers = %+v", pr.Headers)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRoutes("conf/apisix.yaml", []byte(tt.yaml), m)
			if err != nil {
				t.Fatalf("ParseRoutes: %v", err)
			}
			tt.check(t, r)
		})
	}
}

func TestIncomplete(t *testing.T) {
	tests := []struct {
		name string
		data string
	}{
		{"empty", ""},
		{"no end", "routes: []\n"},
		{"end not last", "#END\nroutes: []\n"},
		{"end with text", "routes: []\n#END now\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRoutes("a.yaml", []byte(tt.data), &Main{})
			if !errors.Is(err, ErrIncomplete) {
				t.Errorf("error %v does not match ErrIncomplete", err)
			}
		})
	}
	if _, err := ParseRoutes("a.yaml", []byte("routes: []\n#END\n\n  \n"), &Main{}); err != nil {
		t.Errorf("trailing blank lines after #END: %v", err)
	}
}

func TestMissingFile(t *testing.T) {
	_, err := LoadMain("testdata/does-not-exist.yaml")
	var es Errors
	if !errors.As(err, &es) || es.Error() != "testdata/does-not-exist.yaml: cannot read file: no such file or directory" {
		t.Errorf("err = %v", err)
	}
}

// TestNetworkUpstreamsPresence: an absent upstreams list (nil) allows every
// named upstream, an empty one none; the two must stay distinguishable.
func TestNetworkUpstreamsPresence(t *testing.T) {
	for _, tt := range []struct {
		name, network string
		want          []string
	}{
		{"absent", "dns: false", nil},
		{"empty", "upstreams: []", []string{}},
		{"null", "upstreams: ~", []string{}},
		{"listed", "upstreams: [a]", []string{"a"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMain("conf/config.yaml", []byte("wasm:\n  plugins:\n    - name: a\n      priority: 1\n      file: a.wasm\n      network: {"+tt.network+"}\n"))
			if err != nil {
				t.Fatal(err)
			}
			got := m.Wasm.Plugins[0].Network.Upstreams
			if (got == nil) != (tt.want == nil) || !reflect.DeepEqual(got, tt.want) && len(got)+len(tt.want) > 0 {
				t.Fatalf("Upstreams = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestWasmVMConfig(t *testing.T) {
	for _, tt := range []struct {
		name, yaml, want, err string
	}{
		{"absent", "", "", ""},
		{"string", "vm_config: \"shards=4\"", "shards=4", ""},
		{"object", "vm_config: {shards: 4, name: x}", `{"shards":4,"name":"x"}`, ""},
		{"number", "vm_config: 4", "", "conf/config.yaml:6:18: wasm.plugins[0].vm_config: expected a string or an object"},
		{"empty", "vm_config: \"\"", "", "wasm.plugins[0].vm_config: must not be empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMain("conf/config.yaml", []byte("wasm:\n  plugins:\n    - name: a\n      priority: 1\n      file: a.wasm\n      "+tt.yaml+"\n"))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Wasm.Plugins[0].VMConfig; got != tt.want {
				t.Fatalf("VMConfig = %q, want %q", got, tt.want)
			}
		})
	}
}
