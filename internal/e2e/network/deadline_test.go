package network

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/heimdallgw/heimdall/internal/testutil/gwtest"
)

// silentServer accepts TCP connections and never answers; accepted gets a
// value per connection.
func silentServer(t *testing.T) (addr string, accepted <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	acc := make(chan struct{}, 16)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case acc <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String(), acc
}

// TestDeadlineThroughGateway: with `deadline: 200ms` and a server that
// accepts and never answers, the plugin's GET in OnPluginStart fails with a
// timeout (the host logs the deadline, the plugin logs the timed-out GET);
// while the plugin is blocked, the routes already serving keep serving (the
// new route set is built beside them), and the route then loads (the plugin
// logs the failure and accepts its configuration).
func TestDeadlineThroughGateway(t *testing.T) {
	up := gwtest.HTTPBin(t)
	upAddr := up.Listener.Addr().String()
	silent, accepted := silentServer(t)
	url := "http://" + silent + "/never"
	plain := route{id: "plain", uri: "/base64/*", upstream: upAddr}
	g := startGateway(t, 0,
		mainYAML(t, 0, plugin{name: "httpget", network: fmt.Sprintf("allow: [\"127.0.0.1/32:%d\"]\ndeadline: 200ms\n", portOf(t, silent)), poolSize: 1}),
		routesYAML(plain))

	gwtest.WriteFile(t, filepath.Join(g.dir, "apisix.yaml"), routesYAML(plain,
		route{id: "slow", uri: "/anything/slow", upstream: upAddr, plugin: "httpget", conf: fmt.Sprintf(`{"url": %q}`, url)}))
	<-accepted // the plugin is connected and waiting for an answer
	if resp, body := get(t, nil, g.base+seedPath); resp.StatusCode != 200 || body != seedBody {
		t.Fatalf("other route while the plugin waits: %s %q", resp.Status, body)
	}
	timedOut := len(g.logs.find(map[string]string{"plugin": "httpget", "reason": "deadline 200ms exceeded"})) > 0
	t.Logf("the other route answered while the plugin was still waiting: %v", !timedOut)

	r := refusal(t, g.logs, "httpget", map[string]string{"destination": silent, "reason": "deadline 200ms exceeded"})
	t.Logf("host: %v", r)
	var pluginErr record
	waitFor(t, "the plugin's error line", func() bool {
		for _, r := range g.logs.records() {
			if r.Attrs["plugin"] == "httpget" && strings.HasPrefix(r.Msg, "httpget: GET "+url+": ") {
				pluginErr = r
				return true
			}
		}
		return false
	})
	t.Logf("plugin: %v", pluginErr)
	if !strings.Contains(pluginErr.Msg, "timed out") {
		t.Fatalf("plugin error %q does not report a timeout", pluginErr.Msg)
	}
	waitLog(t, g.logs, map[string]string{"msg": "routes applied", "version": "2"})
	if resp, body := get(t, nil, g.base+"/anything/slow"); resp.StatusCode != 200 {
		t.Fatalf("GET /anything/slow after the plugin's timeout = %s %s", resp.Status, body)
	}
	if resp, body := get(t, nil, g.base+seedPath); resp.StatusCode != 200 || body != seedBody {
		t.Fatalf("other route after the reload: %s %q", resp.Status, body)
	}
}
