package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heimdallgw/heimdall/internal/config"
)

func TestParseWrk(t *testing.T) {
	out := `Running 5s test @ http://127.0.0.1:8080/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms  300.00us   9.00ms   90.00%
    Req/Sec    30.50k     1.20k   32.00k    80.00%
  Latency Distribution
     50%    2.05ms
     75%    2.20ms
     90%    2.40ms
     99%  850.00us
  151234 requests in 5.01s, 30.00MB read
  Non-2xx or 3xx responses: 12
  Socket errors: connect 1, read 2, write 3, timeout 4
Requests/sec:  30186.43
Transfer/sec:      5.99MB
`
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{Requests: 151234, Seconds: 5.01, RPS: 30186.43, Non2xx: 12, SockErrors: 10, P50: 2050, P99: 850}
	if r != want {
		t.Errorf("parseWrk = %+v, want %+v", r, want)
	}
	if _, err := parseWrk("wrk: connection refused"); err == nil {
		t.Error("parseWrk accepted output without a request count")
	}
}

func TestParseStatCPU(t *testing.T) {
	clkTck = 100
	tests := []struct {
		name string
		line string
		want float64
	}{
		{"plain", "1234 (heimdall) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 0 0", 3.0},
		{"spaces and parens in name", "77 (a (b) c) R 1 77 77 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 5 0 0", 0.1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.line))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("parseStatCPU = %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := parseStatCPU([]byte("1 (x) S 1")); err == nil {
		t.Error("short stat accepted")
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\theimdall\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\n"
	if got := parseStatusKB([]byte(status), "VmRSS:"); got != 40960<<10 {
		t.Errorf("VmRSS = %d", got)
	}
	if got := parseStatusKB([]byte(status), "VmSwap:"); got != 0 {
		t.Errorf("missing key = %d, want 0", got)
	}
}

func TestJSONBody(t *testing.T) {
	for _, n := range []int{1 << 10, 64 << 10} {
		b := jsonBody(n)
		if len(b) != n {
			t.Errorf("jsonBody(%d) has %d bytes", n, len(b))
		}
		var v struct {
			Items []map[string]any `json:"items"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("jsonBody(%d) is not JSON: %v", n, err)
		}
		if len(v.Items) == 0 || v.Items[0]["password"] == nil {
			t.Errorf("jsonBody(%d) has no password to mask", n)
		}
	}
}

func TestPercentile(t *testing.T) {
	var s []int64
	for i := 1; i <= 1000; i++ {
		s = append(s, int64(i)*1000) // 1..1000 µs
	}
	for _, c := range []struct{ q, want float64 }{{0.5, 500}, {0.99, 990}, {0.999, 999}, {1, 1000}} {
		if got := pct(s, c.q); got != c.want {
			t.Errorf("pct(%v) = %v, want %v", c.q, got, c.want)
		}
	}
}

// TestHeimdallConfValid checks that every generated gateway configuration
// is accepted by the real config loader, so a config format change fails
// here rather than half-way through make bench.
func TestHeimdallConfValid(t *testing.T) {
	pluginDir := t.TempDir()
	for _, p := range []string{"heimdall", "headers", "jsonmask"} {
		if err := os.WriteFile(filepath.Join(pluginDir, p+".wasm"), []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range targetTable() {
		if tt.spec == nil {
			continue
		}
		t.Run(tt.key, func(t *testing.T) {
			dir := t.TempDir()
			spec := *tt.spec
			spec.poolSize = 3
			cfg, err := writeHeimdallConf(dir, spec, 19080, 18080, 64, pluginDir, filepath.Join(dir, "cache"))
			if err != nil {
				t.Fatal(err)
			}
			m, routes, err := config.Load(cfg)
			if err != nil {
				t.Fatalf("generated config rejected: %v", err)
			}
			if m.Heimdall.AccessLog.Enable != spec.accessLog {
				t.Errorf("access log = %v, want %v", m.Heimdall.AccessLog.Enable, spec.accessLog)
			}
			if len(routes.Routes) != 1 || len(routes.Routes[0].Wasm) != map[bool]int{true: 1, false: 0}[spec.plugin != ""] {
				t.Errorf("routes = %+v", routes.Routes)
			}
			if spec.plugin != "" && m.Wasm.Plugins[0].PoolSize != 3 {
				t.Errorf("pool size = %d, want 3", m.Wasm.Plugins[0].PoolSize)
			}
		})
	}
}

func TestNginxConf(t *testing.T) {
	c := nginxConf("/tmp/x", 9000, 8000, 64, true)
	for _, want := range []string{"worker_processes 1;", "keepalive 64;", "server 127.0.0.1:8000;", "listen 127.0.0.1:9000;", "access_log off;", "user root;", `proxy_set_header Connection "";`} {
		if !strings.Contains(c, want) {
			t.Errorf("nginx.conf lacks %q", want)
		}
	}
	if strings.Contains(nginxConf("/tmp/x", 9000, 8000, 64, false), "user ") {
		t.Error("user directive without root")
	}
}

func TestSelectVariants(t *testing.T) {
	if n := len(selectVariants("")); n != len(variantTable()) {
		t.Errorf("all = %d", n)
	}
	got := selectVariants("nginx,post64k")
	keys := map[string]bool{}
	for _, v := range got {
		keys[v.key] = true
	}
	for _, k := range []string{"get/nginx", "post1k/nginx", "post64k/none", "post64k/jsonmask"} {
		if !keys[k] {
			t.Errorf("selection lacks %s (got %v)", k, keys)
		}
	}
	if keys["get/none"] {
		t.Error("selection has get/none")
	}
}
