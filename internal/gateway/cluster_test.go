package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/testutil/etcdtest"
	"github.com/heimdallgw/heimdall/internal/testutil/gwtest"
	"github.com/heimdallgw/heimdall/internal/testutil/logbuf"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

const clusterKey = "cluster-test-key-0123456789"

// node is one gateway of a cluster test.
type node struct {
	name  string
	url   string // the proxy
	admin string // Admin API base URL; "" on a data plane
	log   *logbuf.Buffer
}

// startNode runs a gateway on etcd: role traditional (with the Admin API)
// or data_plane with config_provider etcd.
func startNode(t *testing.T, name string, srv *etcdtest.Server, traditional bool, wasm string) *node {
	t.Helper()
	deployment := "  role: data_plane\n  role_data_plane: {config_provider: etcd}\n"
	if traditional {
		deployment = "  role: traditional\n  admin:\n    admin_key: [{name: admin, key: " + clusterKey + ", role: admin}]\n"
	}
	conf := fmt.Sprintf("apisix:\n  node_listen: 9080\nnginx_config:\n  error_log_level: info\ndeployment:\n%s  etcd: {host: [%q], timeout: 2}\nwasm:\n  plugins:\n    - {name: headers, priority: 100, file: %q}\n",
		deployment, srv.Endpoint(), wasm)
	m, _ := gwtest.Load(t, conf, "#END\n")
	gwtest.Loopback(m, 0)
	m.Deployment.Admin.Listen.Port = 0 // an ephemeral port, which config.yaml does not accept
	n := &node{name: name, log: &logbuf.Buffer{}}
	logs := &Logs{
		Error:  slog.New(slog.NewTextHandler(n.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Access: slog.New(slog.DiscardHandler),
	}
	var adminAddr net.Addr
	r := gwtest.Start(t, n.log, func(ctx context.Context, ready func(plain, tls []net.Addr)) error {
		return Run(ctx, m, logs, RunOptions{Ready: ready, AdminReady: func(a net.Addr) { adminAddr = a }})
	})
	n.url = r.URL
	if adminAddr != nil {
		n.admin = "http://" + adminAddr.String() + "/apisix/admin"
	}
	return n
}

func adminDo(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("X-API-KEY", clusterKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// probe is one GET through a node: status and the x-route header the
// headers plugin sets from the route's conf.
func probe(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Route"), nil
}

// converge waits until every node answers path with x-route: want and
// returns how long that took.
func converge(t *testing.T, nodes []*node, path, want string) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(10 * time.Second)
	for _, n := range nodes {
		for {
			code, got, err := probe(n.url + path)
			if err == nil && code == 200 && got == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s answers %d x-route %q (%v), want 200 %q; log:\n%s", n.name, path, code, got, err, want, n.log)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	return time.Since(start)
}

func routeJSON(uri, tag string) string {
	return fmt.Sprintf(`{"uri":%q,"upstream_id":"1","labels":{"v":%q},"desc":"cluster test",
		"plugins":{"proxy-rewrite":{"regex_uri":["^/c/(.*)","/$1"]},"headers":{"conf":{"response":{"set":{"x-route":%q}}}}}}`, uri, tag, tag)
}

// TestCluster runs two gateways on one etcd: a traditional node with the
// Admin API and a data plane. A route PUT through the Admin API (with a
// wasm plugin conf, so on_configure ran on both) is served by both; an
// invalid object written straight into etcd is rejected and the previous
// version keeps serving; with etcd stopped, traffic through both keeps
// succeeding while Admin writes answer 503, and after etcd is back both
// pick up new writes without a restart.
func TestCluster(t *testing.T) {
	srv := etcdtest.Start(t)
	wasm := wasmbuild.MustBuild(t, "plugins/headers")
	up := strings.TrimPrefix(gwtest.HTTPBin(t).URL, "http://")
	a := startNode(t, "traditional", srv, true, wasm)
	b := startNode(t, "data_plane", srv, false, wasm)
	nodes := []*node{a, b}
	if b.admin != "" {
		t.Fatalf("the data plane serves an Admin API at %s", b.admin)
	}

	if code, body := adminDo(t, "PUT", a.admin+"/upstreams/1", fmt.Sprintf(`{"nodes":{%q:1}}`, up)); code != 201 {
		t.Fatalf("PUT upstream = %d %s", code, body)
	}
	start := time.Now()
	if code, body := adminDo(t, "PUT", a.admin+"/routes/1", routeJSON("/c/*", "v1")); code != 201 {
		t.Fatalf("PUT route = %d %s", code, body)
	}
	d := converge(t, nodes, "/c/get", "v1")
	t.Logf("both nodes serve a new route %v after the Admin API PUT (%v after it answered)", time.Since(start), d)

	// The dashboard sits next to the Admin API, behind the same key.
	ui := strings.TrimSuffix(a.admin, "/apisix/admin") + "/ui/api/state"
	if code, body := adminDo(t, "GET", ui, ""); code != 200 || !strings.Contains(body, `"id":"1","uris":["/c/*"]`) {
		t.Fatalf("dashboard state with the key: %d %s", code, body)
	}
	if resp, err := http.Get(ui); err != nil || resp.StatusCode != 401 {
		t.Fatalf("dashboard state without the key: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	start = time.Now()
	if code, body := adminDo(t, "PATCH", a.admin+"/routes/1/plugins/headers", `{"conf":{"response":{"set":{"x-route":"v2"}}}}`); code != 200 {
		t.Fatalf("PATCH = %d %s", code, body)
	}
	converge(t, nodes, "/c/get", "v2")
	t.Logf("both nodes serve a changed plugin conf %v after the PATCH", time.Since(start))

	// Straight into etcd, not through the Admin API: rejected per object.
	srv.Put(srv.Client(), "/apisix/routes/1", `{"uri":"/c/*","upstream_id":"1","plugins":{"no-such-plugin":{}}}`)
	for _, n := range nodes {
		waitLine(t, n, `msg="invalid etcd object rejected"`, `key=/apisix/routes/1`, `unknown plugin \"no-such-plugin\"`)
		if code, got, err := probe(n.url + "/c/get"); err != nil || code != 200 || got != "v2" {
			t.Errorf("%s after an invalid object: %d %q %v, want the previous version (200 v2)", n.name, code, got, err)
		}
	}

	// etcd down mid-traffic.
	var failed, sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, got, err := probe(n.url + "/c/get")
				sent.Add(1)
				if err != nil || code != 200 || got != "v2" {
					failed.Add(1)
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	srv.Stop()
	for _, n := range nodes {
		waitLine(t, n, "etcd unreachable; the last configuration keeps serving")
	}
	if code, body := adminDo(t, "PUT", a.admin+"/routes/2", routeJSON("/d/*", "x")); code != 503 || !strings.Contains(body, "etcd unavailable") {
		t.Errorf("Admin write with etcd down = %d %s, want 503", code, body)
	}
	// Reads are answered from what the node serves, marked stale.
	req, _ := http.NewRequest("GET", a.admin+"/routes/1", nil)
	req.Header.Set("X-API-KEY", clusterKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Heimdall-Stale") != "1" || !strings.Contains(string(body), `"key":"/apisix/routes/1"`) || !strings.Contains(string(body), `"x-route":"v2"`) {
		t.Errorf("Admin read with etcd down = %d stale=%q %s", resp.StatusCode, resp.Header.Get("X-Heimdall-Stale"), body)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || sent.Load() < 10 {
		t.Errorf("with etcd down: %d of %d requests failed", failed.Load(), sent.Load())
	}
	t.Logf("etcd down: %d requests through both nodes, %d failed", sent.Load(), failed.Load())

	srv.Restart()
	for _, n := range nodes {
		waitCount(t, n, `msg="etcd reachable"`, 2) // once at start-up, once now
	}
	if code, body := adminDo(t, "PUT", a.admin+"/routes/1", routeJSON("/c/*", "v3")); code != 200 {
		t.Fatalf("PUT after etcd restart = %d %s", code, body)
	}
	converge(t, nodes, "/c/get", "v3")
}

// waitLine waits until one line of n's log contains every part.
func waitLine(t *testing.T, n *node, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range strings.Split(n.log.String(), "\n") {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no log line with %q; log:\n%s", n.name, parts, n.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitCount waits until n's log has count lines containing sub.
func waitCount(t *testing.T, n *node, sub string, count int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for strings.Count(n.log.String(), sub) < count {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %q logged fewer than %d times; log:\n%s", n.name, sub, count, n.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
