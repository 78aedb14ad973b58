package network

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/heimdallgw/heimdall/internal/testutil/gwtest"
	"github.com/heimdallgw/heimdall/internal/testutil/redistest"
)

// conformance is the host's raw-ABI test plugin: with x-test: httpcall it
// dispatches proxy_http_call to x-call-upstream and reports the result as
// request headers (x-call-error: the dispatch status; x-call-status: the
// answer's :status), which go-httpbin's /anything echoes back.
func conformance(network string) plugin {
	return plugin{name: "conformance", src: "internal/wasm/host/testdata/conformance", network: network, poolSize: 1}
}

// callRoutes is apisix.yaml with two named upstreams (httpbin and other,
// both go-httpbin) and a route /anything/* to httpbin running conformance.
func callRoutes(hb string) string {
	return fmt.Sprintf(`routes:
  - id: call
    uri: /anything/*
    upstream_id: httpbin
    plugins:
      conformance:
        conf: "{}"
upstreams:
  - id: httpbin
    nodes: {%q: 1}
  - id: other
    nodes: {%q: 1}
#END
`, hb, hb)
}

// dispatch asks the plugin for one http_call to upstream through the
// gateway and returns the x-call-* headers the upstream received.
func dispatch(t *testing.T, g *gw, upstream string) map[string]string {
	t.Helper()
	req, err := http.NewRequest("GET", g.base+"/anything/call", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-test", "httpcall")
	req.Header.Set("x-call-upstream", upstream)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /anything/call = %s", resp.Status)
	}
	var echo struct {
		Headers map[string][]string `json:"headers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&echo); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, v := range echo.Headers {
		if k = strings.ToLower(k); strings.HasPrefix(k, "x-call-") && len(v) > 0 {
			out[k] = v[0]
		}
	}
	return out
}

// TestHTTPCallPolicyThroughGateway: a plugin with no network section, in
// the real gateway: proxy_http_call to the real Redis port, to the metadata
// address, to the gateway's own listener and to a name all fail at dispatch
// with BadArgument (2), each refusal logged once with plugin, op and
// destination, while the named upstream from apisix.yaml answers. With
// network.upstreams narrowed to another id, the same named call is refused,
// and an id apisix.yaml lacks is reported when the routes are applied.
func TestHTTPCallPolicyThroughGateway(t *testing.T) {
	hb := gwtest.HTTPBin(t)
	hbAddr := hb.Listener.Addr().String()
	redisAddr := redistest.Addr(t)

	t.Run("no network section", func(t *testing.T) {
		port := gwtest.FreePort(t)
		g := startGateway(t, port, mainYAML(t, port, conformance("")), callRoutes(hbAddr))
		self := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		for _, up := range []string{redisAddr, "169.254.169.254:80", self, "localhost:" + strconv.Itoa(portOf(t, hbAddr))} {
			for i := 0; i < 3; i++ {
				if got := dispatch(t, g, up); got["x-call-error"] != "2" {
					t.Fatalf("http_call %s: %v, want x-call-error 2 (BadArgument)", up, got)
				}
			}
			recs := g.logs.find(map[string]string{"msg": "plugin network access refused", "plugin": "conformance", "op": "http_call", "destination": up})
			if len(recs) != 1 || recs[0].Attrs["reason"] != "no network policy" {
				t.Fatalf("refusal records for %s: %v, want one with reason no network policy", up, recs)
			}
		}
		if got := dispatch(t, g, "httpbin"); got["x-call-status"] != "200" {
			t.Fatalf("named upstream httpbin: %v, want x-call-status 200", got)
		}
	})

	t.Run("upstreams narrowed", func(t *testing.T) {
		g := startGateway(t, 0, mainYAML(t, 0, conformance("upstreams: [other, nope]\n")), callRoutes(hbAddr))
		waitLog(t, g.logs, map[string]string{"plugin": "conformance", "upstream": "nope",
			"msg": "wasm plugin network.upstreams names an upstream apisix.yaml does not define (calls to it fail as to an unknown upstream)"})
		if got := dispatch(t, g, "other"); got["x-call-status"] != "200" {
			t.Fatalf("listed upstream other: %v", got)
		}
		if got := dispatch(t, g, "httpbin"); got["x-call-error"] != "2" {
			t.Fatalf("unlisted upstream httpbin: %v, want x-call-error 2", got)
		}
		refusal(t, g.logs, "conformance", map[string]string{"op": "http_call", "destination": "upstream httpbin", "reason": "upstream not in network.upstreams"})
	})

	t.Run("allowed literal", func(t *testing.T) {
		g := startGateway(t, 0, mainYAML(t, 0, conformance(fmt.Sprintf("allow: [\"127.0.0.1/32:%d\"]\n", portOf(t, hbAddr)))), callRoutes(hbAddr))
		if got := dispatch(t, g, hbAddr); got["x-call-status"] != "200" {
			t.Fatalf("allowed literal %s: %v", hbAddr, got)
		}
		if got := dispatch(t, g, redisAddr); got["x-call-error"] != "2" {
			t.Fatalf("other port %s: %v, want x-call-error 2", redisAddr, got)
		}
	})
}
