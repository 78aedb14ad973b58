package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/testutil/etcdtest"
	"github.com/heimdallgw/heimdall/internal/testutil/gwtest"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

// syncBuffer is a bytes.Buffer safe for the gateway's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestClusterWalkthrough runs README's "Cluster mode" commands on
// conf/cluster/*.yaml as shipped, with only the ports moved to free ones
// (and etcd to the test's own): validate, two `heimdall run`, the Admin
// API calls, and a request through each node.
func TestClusterWalkthrough(t *testing.T) {
	srv := etcdtest.Start(t)
	plugin, err := filepath.Abs(wasmbuild.MustBuild(t, "plugins/heimdall"))
	if err != nil {
		t.Fatal(err)
	}
	up := strings.TrimPrefix(gwtest.HTTPBin(t).URL, "http://")
	key := "walkthrough-0123456789abcdef"
	t.Setenv("HEIMDALL_ADMIN_KEY", key)

	ports := map[string]int{"9080": gwtest.FreePort(t), "9081": gwtest.FreePort(t), "9180": gwtest.FreePort(t)}
	dir := t.TempDir()
	for _, name := range []string{"config.yaml", "data-plane.yaml"} {
		b, err := os.ReadFile(filepath.Join("../../conf/cluster", name))
		if err != nil {
			t.Fatal(err)
		}
		// One pass, so a new port never gets replaced again.
		r := strings.NewReplacer("http://127.0.0.1:2379", srv.Endpoint(), "../../build/plugins/heimdall.wasm", plugin,
			"9080", strconv.Itoa(ports["9080"]), "9081", strconv.Itoa(ports["9081"]), "9180", strconv.Itoa(ports["9180"]))
		gwtest.WriteFile(t, filepath.Join(dir, name), r.Replace(string(b)))
	}

	if code, out, errOut := runCmd("validate", "-c", filepath.Join(dir, "config.yaml")); code != 0 || !strings.Contains(out, "routes: read from etcd") {
		t.Fatalf("validate: exit %d\n%s%s", code, out, errOut)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var logs [2]syncBuffer
	for i, name := range []string{"config.yaml", "data-plane.yaml"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code := run(ctx, []string{"run", "-c", filepath.Join(dir, name)}, io.Discard, &logs[i]); code != 0 {
				t.Errorf("heimdall run -c %s: exit %d\n%s", name, code, &logs[i])
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()
	for _, p := range ports {
		waitListening(t, p)
	}

	adminURL := fmt.Sprintf("http://127.0.0.1:%d/apisix/admin", ports["9180"])
	admin := func(method, path, body string) string {
		t.Helper()
		req, _ := http.NewRequest(method, adminURL+path, strings.NewReader(body))
		req.Header.Set("X-API-KEY", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s = %d %s", method, path, resp.StatusCode, b)
		}
		return string(b)
	}
	admin("PUT", "/upstreams/1", fmt.Sprintf(`{"nodes": {%q: 1}}`, up))
	admin("PUT", "/routes/1", `{"uri": "/httpbin/*", "upstream_id": "1",
  "plugins": {"proxy-rewrite": {"regex_uri": ["^/httpbin/(.*)", "/$1"]},
              "heimdall": {"conf": {"max_body_bytes": 4096}}}}`)
	for _, p := range []int{ports["9080"], ports["9081"]} {
		url := fmt.Sprintf("http://127.0.0.1:%d/httpbin/get", p)
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := http.Get(url)
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 && strings.Contains(string(body), `"url"`) {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never answered 200 (err %v)\nlogs:\n%s\n%s", url, err, &logs[0], &logs[1])
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if list := admin("GET", "/routes", ""); !strings.Contains(list, `"total":1`) {
		t.Errorf("route list = %s", list)
	}
}

func waitListening(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %d: %v", port, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
