package network

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/heimdallgw/heimdall/internal/testutil/gwtest"
)

// seedBody is what the upstream answers, as in the seed and the README.
const seedBody = "hello from the upstream"

// seedPath is the go-httpbin path answering seedBody as text/plain.
var seedPath = "/base64/" + base64.URLEncoding.EncodeToString([]byte(seedBody))

// wantLines is what the plugin must log for a GET of url: the same GET made
// natively (same transport settings as the plugin: no keep-alive), rendered
// the seed's way. The Date header is returned separately (it may differ by
// a second); its line is matched by prefix.
func wantLines(t *testing.T, url string) []string {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, body := get(t, client, url)
	if resp.StatusCode != 200 || body != seedBody {
		t.Fatalf("upstream answered %s %q natively", resp.Status, body)
	}
	lines := []string{"Status: " + resp.Status}
	keys := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range resp.Header[k] {
			if k == "Date" {
				v = "" // matched by prefix
			}
			lines = append(lines, k+": "+v)
		}
	}
	return append(lines, body)
}

// pluginLines returns the messages the plugin logged from its root context
// (OnPluginStart), in order.
func pluginLines(logs *logStore, name string) []string {
	var out []string
	for _, r := range logs.records() {
		if r.Attrs["plugin"] == name && r.Msg != "plugin network access refused" {
			out = append(out, r.Msg)
		}
	}
	return out
}

// checkSeedShape checks that the plugin's log holds, from a "Status: " line
// on, exactly the lines of want.
func checkSeedShape(t *testing.T, got, want []string) {
	t.Helper()
	i := slices.IndexFunc(got, func(s string) bool { return strings.HasPrefix(s, "Status: ") })
	if i < 0 || len(got)-i < len(want) {
		t.Fatalf("plugin log lacks the seed's output; got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	block := got[i : i+len(want)]
	for j := range want {
		ok := block[j] == want[j]
		if want[j] == "Date: " {
			_, err := http.ParseTime(strings.TrimPrefix(block[j], "Date: "))
			ok = strings.HasPrefix(block[j], "Date: ") && err == nil
		}
		if !ok {
			t.Fatalf("line %d of the plugin's output = %q, want %q\ngot:\n%s\nwant:\n%s", j, block[j], want[j],
				strings.Join(block, "\n"), strings.Join(want, "\n"))
		}
	}
}

// TestHTTPGetThroughGateway: the seed's httpget plugin configured from
// apisix.yaml GETs the local HTTP server in OnPluginStart and the gateway's
// log shows the seed's output (status, sorted headers, body); the route then
// serves. By IP and by name (dns: true, `localhost` resolved through
// sock_getaddrinfo and checked against the loopback CIDR entry).
func TestHTTPGetThroughGateway(t *testing.T) {
	up := gwtest.HTTPBin(t)
	port := portOf(t, up.URL)
	tests := []struct {
		name, host, network, resolve string
		wantResolved                 string
	}{
		{"by IP", "127.0.0.1", fmt.Sprintf("allow: [\"127.0.0.1/32:%d\"]\ndeadline: 2s\n", port), "", ""},
		{"by name", "localhost", fmt.Sprintf("allow: [\"127.0.0.1/32:%d\"]\ndns: true\ndeadline: 2s\n", port), "localhost", "localhost: 127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := fmt.Sprintf("http://%s:%d%s", tt.host, port, seedPath)
			conf := fmt.Sprintf(`{"url": %q, "resolve": %q}`, url, tt.resolve)
			if tt.resolve == "" {
				conf = fmt.Sprintf(`{"url": %q}`, url)
			}
			g := startGateway(t, 0,
				mainYAML(t, 0, plugin{name: "httpget", network: tt.network, poolSize: 1}),
				routesYAML(route{id: "get", uri: "/get", upstream: up.Listener.Addr().String(), plugin: "httpget", conf: conf}))
			// OnPluginStart ran while the routes were built, before Ready.
			got := pluginLines(g.logs, "httpget")
			t.Logf("plugin output:\n%s", strings.Join(got, "\n"))
			checkSeedShape(t, got, wantLines(t, url))
			if tt.wantResolved != "" && !slices.Contains(got, tt.wantResolved) {
				t.Errorf("plugin log lacks %q:\n%s", tt.wantResolved, strings.Join(got, "\n"))
			}
			if refused := g.logs.find(map[string]string{"msg": "plugin network access refused"}); len(refused) > 0 {
				t.Errorf("unexpected refusal: %v", refused[0])
			}
			if resp, body := get(t, nil, g.base+"/get"); resp.StatusCode != 200 || !strings.Contains(body, `"url"`) {
				t.Fatalf("GET /get through the plugin's route = %s %s", resp.Status, body)
			}
		})
	}
}
