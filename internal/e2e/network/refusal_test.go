package network

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heimdallgw/heimdall/internal/testutil/gwtest"
)

// TestRefusalsThroughGateway: each policy that must refuse the httpget
// plugin's GET does so through the gateway: the host logs "plugin network
// access refused" naming plugin, operation, destination and reason, the
// guest gets EACCES (the plugin logs "permission denied" for its GET).
//
// Behaviour on refusal (documented in plugins/httpget/README.md): the
// plugin's OnPluginStart logs the failed GET and still returns OK, so the
// configuration is accepted, the gateway starts and the route serves; only
// an invalid conf (TestHTTPGetInvalidConfRejectsRoute) rejects the route.
func TestRefusalsThroughGateway(t *testing.T) {
	up := gwtest.HTTPBin(t)
	port := portOf(t, up.URL)
	other := gwtest.FreePort(t)
	ipURL := fmt.Sprintf("http://127.0.0.1:%d%s", port, seedPath)
	nameURL := fmt.Sprintf("http://localhost:%d%s", port, seedPath)
	dest := fmt.Sprintf("127.0.0.1:%d", port)
	tests := []struct {
		name    string
		network string // "" = no network section
		url     string
		refusal map[string]string // attributes of the refusal record
		plugin  string            // substring of the plugin's error line
	}{
		{"no network section", "", ipURL,
			map[string]string{"op": "sock_connect", "destination": dest, "reason": "no network policy"}, "permission denied"},
		{"destination not allowed", fmt.Sprintf("allow: [\"127.0.0.1/32:%d\"]\n", other), ipURL,
			map[string]string{"op": "sock_connect", "destination": dest, "reason": "port not in allow list"}, "permission denied"},
		{"name resolving to a denied address", "allow: [\"10.0.0.0/8\"]\ndns: true\n", nameURL,
			map[string]string{"op": "sock_getaddrinfo", "destination": "localhost (127.0.0.1)", "reason": "loopback address not explicitly allowed"}, "permission denied"},
		{"loopback denied by default", "allow: [\"0.0.0.0/0\"]\n", ipURL,
			map[string]string{"op": "sock_connect", "destination": dest, "reason": "loopback address not explicitly allowed"}, "permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := startGateway(t, 0,
				mainYAML(t, 0, plugin{name: "httpget", network: tt.network, poolSize: 1}),
				routesYAML(route{id: "get", uri: "/get", upstream: up.Listener.Addr().String(), plugin: "httpget",
					conf: fmt.Sprintf(`{"url": %q}`, tt.url)}))
			want := map[string]string{"msg": "plugin network access refused", "plugin": "httpget"}
			for k, v := range tt.refusal {
				want[k] = v
			}
			refused := g.logs.find(want)
			if len(refused) == 0 {
				t.Fatalf("no refusal record %v", want)
			}
			t.Logf("refusal: %v", refused[0])
			errLine := "httpget: GET " + tt.url + ": "
			var pluginErr []record
			for _, r := range g.logs.records() {
				if r.Attrs["plugin"] == "httpget" && strings.HasPrefix(r.Msg, errLine) {
					pluginErr = append(pluginErr, r)
				}
			}
			if len(pluginErr) == 0 || !strings.Contains(strings.ToLower(pluginErr[0].Msg), tt.plugin) {
				t.Fatalf("plugin error line %q... with %q missing: %v", errLine, tt.plugin, pluginErr)
			}
			t.Logf("plugin: %v", pluginErr[0])
			if got := pluginLines(g.logs, "httpget"); strings.Contains(strings.Join(got, "\n"), "Status: ") {
				t.Fatalf("the refused GET produced output: %v", got)
			}
			// The configuration was accepted: the route serves.
			if resp, body := get(t, nil, g.base+"/get"); resp.StatusCode != 200 {
				t.Fatalf("GET /get = %s %s", resp.Status, body)
			}
		})
	}
}

// refusal waits for the host's refusal record of plugin name with attrs.
func refusal(t *testing.T, logs *logStore, name string, attrs map[string]string) record {
	t.Helper()
	want := map[string]string{"msg": "plugin network access refused", "plugin": name}
	for k, v := range attrs {
		want[k] = v
	}
	return waitLog(t, logs, want)
}

// TestGatewayPortThroughGateway: the gateway's own listen port is refused
// to a plugin even when its address is allowed, unless an entry names the
// port; with the port listed the plugin GETs through the gateway itself.
func TestGatewayPortThroughGateway(t *testing.T) {
	up := gwtest.HTTPBin(t)
	upAddr := up.Listener.Addr().String()
	plain := route{id: "plain", uri: "/base64/*", upstream: upAddr}

	t.Run("refused", func(t *testing.T) {
		port := gwtest.FreePort(t)
		url := fmt.Sprintf("http://127.0.0.1:%d%s", port, seedPath)
		g := startGateway(t, port,
			mainYAML(t, port, plugin{name: "httpget", network: "allow: [\"127.0.0.1/32\"]\n", poolSize: 1}),
			routesYAML(plain, route{id: "self", uri: "/self", upstream: upAddr, plugin: "httpget", conf: fmt.Sprintf(`{"url": %q}`, url)}))
		r := refusal(t, g.logs, "httpget", map[string]string{"op": "sock_connect",
			"destination": fmt.Sprintf("127.0.0.1:%d", port), "reason": "gateway port not explicitly allowed"})
		t.Logf("refusal: %v", r)
	})

	t.Run("listed", func(t *testing.T) {
		port := gwtest.FreePort(t)
		url := fmt.Sprintf("http://127.0.0.1:%d%s", port, seedPath)
		g := startGateway(t, port,
			mainYAML(t, port, plugin{name: "httpget", network: fmt.Sprintf("allow: [\"127.0.0.1/32:%d\"]\n", port), poolSize: 1}),
			routesYAML(plain))
		// Added by a reload, so the listener is up: the plugin's GET is
		// served by the running routes while the new ones are built.
		gwtest.WriteFile(t, filepath.Join(g.dir, "apisix.yaml"), routesYAML(plain,
			route{id: "self", uri: "/self", upstream: upAddr, plugin: "httpget", conf: fmt.Sprintf(`{"url": %q}`, url)}))
		waitLog(t, g.logs, map[string]string{"msg": "routes applied", "version": "2"})
		checkSeedShape(t, pluginLines(g.logs, "httpget"), wantLines(t, up.URL+seedPath))
		if r := g.logs.find(map[string]string{"msg": "plugin network access refused"}); len(r) > 0 {
			t.Fatalf("refused: %v", r[0])
		}
	})
}

// TestHTTPGetInvalidConfRejectsRoute is the contrast to the refusals: a conf
// the plugin cannot use makes OnPluginStart fail, and the gateway refuses
// to start with an error naming the file, the route and the plugin.
func TestHTTPGetInvalidConfRejectsRoute(t *testing.T) {
	up := gwtest.HTTPBin(t)
	err, logs := runErr(t,
		mainYAML(t, 0, plugin{name: "httpget", network: "allow: [\"10.0.0.0/8\"]\n", poolSize: 1}),
		routesYAML(route{id: "get", uri: "/get", upstream: up.Listener.Addr().String(), plugin: "httpget", conf: `{"resolve": "x"}`}))
	if err == nil || !strings.Contains(err.Error(), "apisix.yaml:") || !strings.Contains(err.Error(), "route get: plugin httpget:") {
		t.Fatalf("Run error = %v, want one naming apisix.yaml, route get and plugin httpget", err)
	}
	t.Logf("Run error: %v", err)
	if len(logs.find(map[string]string{"plugin": "httpget", "msg": `httpget: invalid conf "{\"resolve\":\"x\"}": want {"url": ..., "resolve": ...}`})) == 0 {
		t.Fatalf("the plugin's own error is not logged:\n%s", logs)
	}
}
