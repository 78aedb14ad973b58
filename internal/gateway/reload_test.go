package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/testutil/gwtest"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

// reloadRoutes is an apisix.yaml with the named upstream u1 and, per entry
// of routes ("id uri plugin-conf-or-empty"), a route through it.
func reloadRoutes(up string, routes ...string) string {
	var b strings.Builder
	b.WriteString("routes:\n")
	for _, r := range routes {
		f := strings.SplitN(r, " ", 3)
		fmt.Fprintf(&b, "  - id: %s\n    uri: %s\n    upstream_id: u1\n", f[0], f[1])
		if len(f) == 3 {
			fmt.Fprintf(&b, "    plugins:\n      heimdall:\n        conf: %s\n", f[2])
		}
	}
	fmt.Fprintf(&b, "upstreams:\n  - id: u1\n    nodes:\n      %q: 1\n#END\n", up)
	return b.String()
}

// TestReloadNeverHalfApplies writes broken apisix.yaml files into a running
// gateway: each is rejected with a message that says where and why, the
// routes served before keep answering, and nothing of the broken file is
// applied, not even its valid routes. A valid file then applies.
func TestReloadNeverHalfApplies(t *testing.T) {
	up := upstream(t)
	wasm := wasmbuild.MustBuild(t, "plugins/heimdall")
	g := startGateway(t, "wasm:\n  plugins:\n    - name: heimdall\n      priority: 7999\n      file: "+wasm+"\n",
		reloadRoutes(up, `old /anything/old/* {"max_body_bytes": 16}`))
	file := filepath.Join(g.dir, "apisix.yaml")
	if code, body := get(t, g.base+"/anything/old/get"); code != 200 {
		t.Fatalf("before any reload: %d %s", code, body)
	}
	// Every broken file also adds /anything/new/*, a valid route: it must
	// not appear.
	newRoute := `new /anything/new/* {"max_body_bytes": 32}`
	tests := []struct {
		name    string
		content string
		want    *regexp.Regexp // in the log lines written after the file
	}{
		{"plugin rejects its conf",
			reloadRoutes(up, newRoute, `bad /anything/bad/* "not json"`),
			regexp.MustCompile(`new routes rejected; the previous routes keep serving.*err=".*apisix\.yaml:8:5: route bad: plugin heimdall: rejected its conf \(proxy_on_configure returned false; the plugin's own log lines say why\): plugin rejected its configuration"`)},
		{"unknown plugin",
			strings.Replace(reloadRoutes(up, newRoute, `bad /anything/bad/* {}`), "      heimdall:\n        conf: {}", "      nosuch: {}", 1),
			regexp.MustCompile(`config error" error=".*apisix\.yaml:12:7: routes\[1\]\.plugins: unknown plugin \\"nosuch\\"; allowed: .*proxy-rewrite.*heimdall`)},
		{"unknown upstream id",
			strings.Replace(reloadRoutes(up, newRoute, `bad /anything/bad/*`), "upstream_id: u1\nupstreams", "upstream_id: u9\nupstreams", 1),
			regexp.MustCompile(`config error" error=".*apisix\.yaml:10:18: routes\[1\]\.upstream_id: upstream \\"u9\\" not found in upstreams`)},
		{"yaml syntax error",
			strings.Replace(reloadRoutes(up, newRoute), "    uri: /anything/new/*", "    uri: [/anything/new/*", 1),
			regexp.MustCompile(`config error" error=".*apisix\.yaml:\d+: invalid YAML: `)},
		{"missing #END",
			strings.TrimSuffix(reloadRoutes(up, newRoute), "#END\n"),
			regexp.MustCompile(`routes file has no #END line yet; waiting for the writer to finish`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mark := len(g.log.String())
			gwtest.WriteFile(t, file, tt.content)
			deadline := time.Now().Add(10 * time.Second)
			for !tt.want.MatchString(g.log.String()[mark:]) {
				if time.Now().After(deadline) {
					t.Fatalf("no log line matching %s after writing the file; logged:\n%s", tt.want, g.log.String()[mark:])
				}
				time.Sleep(10 * time.Millisecond)
			}
			for _, path := range []string{"/anything/old/get", "/anything/new/get", "/anything/bad/get"} {
				want := 404
				if path == "/anything/old/get" {
					want = 200
				}
				if code, body := get(t, g.base+path); code != want {
					t.Errorf("GET %s after the rejected file: %d, want %d (%s)", path, code, want, body)
				}
			}
			// A few more polls: still nothing applied.
			time.Sleep(60 * time.Millisecond)
			if log := g.log.String()[mark:]; strings.Contains(log, `msg="routes applied"`) {
				t.Errorf("the broken file was applied:\n%s", log)
			}
		})
	}

	mark := len(g.log.String())
	gwtest.WriteFile(t, file, reloadRoutes(up, newRoute))
	waitFor(t, "the valid file to apply", func() bool { return strings.Contains(g.log.String()[mark:], `msg="routes applied"`) })
	if code, body := get(t, g.base+"/anything/new/get"); code != 200 {
		t.Fatalf("/anything/new after the valid reload: %d %s", code, body)
	}
	if code, _ := get(t, g.base+"/anything/old/get"); code != 404 {
		t.Fatalf("/anything/old after the valid reload (route gone): %d, want 404", code)
	}
}

// TestStartupRejectsUncompilablePlugin: a plugin file that is not a valid
// wasm module (config.yaml changes need a restart, so this is a start-up
// error) stops the gateway before it serves, naming the plugin, its entry
// in config.yaml and the file.
func TestStartupRejectsUncompilablePlugin(t *testing.T) {
	wasm := wasmbuild.MustBuild(t, "plugins/heimdall")
	good, err := os.ReadFile(wasm)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		content []byte
		want    string
	}{
		{"not wasm", []byte("#!/bin/sh\necho not a plugin\n"), "invalid magic number"},
		{"truncated", good[:len(good)/2], ""},
		{"no proxy-wasm exports", []byte("\x00asm\x01\x00\x00\x00"), "no proxy-wasm ABI version marker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			plugin := filepath.Join(dir, "broken.wasm")
			if err := os.WriteFile(plugin, tt.content, 0o644); err != nil {
				t.Fatal(err)
			}
			m, _ := gwtest.Load(t, "heimdall:\n  wasm_cache_dir: off\nwasm:\n  plugins:\n    - name: broken\n      priority: 1\n      file: "+plugin+"\n",
				routesYAML("/*", "127.0.0.1:1", ""))
			gwtest.Loopback(m, 0)
			err := Run(context.Background(), m, &Logs{Error: slog.New(slog.DiscardHandler)},
				RunOptions{Ready: func(_, _ []net.Addr) { t.Error("gateway became ready") }})
			if err == nil {
				t.Fatal("the gateway started with an uncompilable plugin")
			}
			for _, want := range []string{"config.yaml:5:7: wasm.plugins[0] broken: ", plugin, tt.want} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}
