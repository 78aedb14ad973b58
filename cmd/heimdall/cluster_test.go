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

	"github.com/heimdallgw/heimdall/internal/config"
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

	ports := map[string]int{"9080": gwtest.FreePort(t), "9081": gwtest.FreePort(t), "9180": gwtest.FreePort(t),
		"9091": gwtest.FreePort(t), "9092": gwtest.FreePort(t)}
	dir := t.TempDir()
	for _, name := range []string{"config.yaml", "data-plane.yaml", "upstream.yaml", "route.yaml"} {
		b, err := os.ReadFile(filepath.Join("../../conf/cluster", name))
		if err != nil {
			t.Fatal(err)
		}
		// One pass, so a new port never gets replaced again.
		r := strings.NewReplacer("http://127.0.0.1:2379", srv.Endpoint(), "../../build/plugins/heimdall.wasm", plugin, "127.0.0.1:8080", up,
			"9080", strconv.Itoa(ports["9080"]), "9081", strconv.Itoa(ports["9081"]), "9180", strconv.Itoa(ports["9180"]),
			"9091", strconv.Itoa(ports["9091"]), "9092", strconv.Itoa(ports["9092"]))
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

	server := fmt.Sprintf("http://127.0.0.1:%d", ports["9180"])
	t.Setenv("HEIMDALL_ADMIN_SERVER", server)
	admin := func(stdin string, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := cmdAdmin(context.Background(), args, strings.NewReader(stdin), &out, &errOut); code != 0 {
			t.Fatalf("heimdall admin %v: exit %d\n%s%s", args, code, &out, &errOut)
		}
		return out.String()
	}
	admin("", "upstreams", "put", "1", "-f", filepath.Join(dir, "upstream.yaml"))
	admin("", "routes", "put", "1", "-f", filepath.Join(dir, "route.yaml"))
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
	list := admin("", "routes", "list")
	if !strings.Contains(list, "ID  URI") || !strings.Contains(list, "1   /httpbin/*  -      1         heimdall,proxy-rewrite") || !strings.Contains(list, "(1 routes)") {
		t.Errorf("routes list:\n%s", list)
	}
	if got := admin("", "upstreams", "get", "1"); !strings.Contains(got, `"key": "/apisix/upstreams/1"`) {
		t.Errorf("upstreams get:\n%s", got)
	}
	// JSON on stdin; an error is shown as the API sent it.
	var out, errOut bytes.Buffer
	code := cmdAdmin(context.Background(), []string{"routes", "put", "2", "--key", key}, strings.NewReader(`{"uri":"x","upstream_id":"1"}`), &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "400 Bad Request") || !strings.Contains(errOut.String(), `{"error_msg":"uri: uri \"x\" must start with /; allowed: \"/exact\" or \"/prefix/*\""}`) {
		t.Errorf("invalid put: exit %d\n%s", code, &errOut)
	}
	errOut.Reset()
	if code := cmdAdmin(context.Background(), []string{"upstreams", "delete", "1"}, nil, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "route [1] is still using it now") {
		t.Errorf("delete in use: exit %d\n%s", code, &errOut)
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

func TestAdminUsage(t *testing.T) {
	t.Setenv("HEIMDALL_ADMIN_KEY", "")
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "usage: heimdall admin"},
		{[]string{"consumers", "list"}, 2, `unknown object type "consumers"; allowed: routes, upstreams, services, plugin_configs`},
		{[]string{"routes", "get"}, 2, "usage: heimdall admin"},       // missing id
		{[]string{"routes", "list", "1"}, 2, "usage: heimdall admin"}, // id not wanted
		{[]string{"routes", "list"}, 2, "no admin key; pass --key or set HEIMDALL_ADMIN_KEY"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		if code := cmdAdmin(context.Background(), tt.args, nil, &out, &errOut); code != tt.code || !strings.Contains(errOut.String(), tt.msg) {
			t.Errorf("admin %v: exit %d, stderr %q; want %d %q", tt.args, code, &errOut, tt.code, tt.msg)
		}
	}
}

// TestConfigPushDump: the demo apisix.yaml pushed into etcd comes back from
// dump as a standalone file that validates to the same routes; an invalid
// file is refused with file:line:col before anything is written.
func TestConfigPushDump(t *testing.T) {
	srv := etcdtest.Start(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "config.yaml")
	gwtest.WriteFile(t, conf, fmt.Sprintf("deployment:\n  role: data_plane\n  role_data_plane: {config_provider: etcd}\n  etcd: {host: [%q], timeout: 2}\nwasm:\n  plugins:\n    - {name: heimdall, priority: 7999, file: x.wasm}\n", srv.Endpoint()))

	code, out, errOut := runCmd("config", "push", "-c", conf, "../../conf/apisix.yaml")
	if code != 0 || !strings.Contains(out, "../../conf/apisix.yaml: 1 routes and 1 upstreams, services and plugin configs written to etcd "+srv.Endpoint()+" prefix /apisix") {
		t.Fatalf("push: exit %d\n%s%s", code, out, errOut)
	}
	dumped := filepath.Join(dir, "dump.yaml")
	if code, out, errOut := runCmd("config", "dump", "-c", conf, "-o", dumped); code != 0 {
		t.Fatalf("dump: exit %d\n%s%s", code, out, errOut)
	}
	m, err := config.LoadMain(conf)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := config.LoadRoutes("../../conf/apisix.yaml", m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := config.LoadRoutes(dumped, m)
	if err != nil {
		b, _ := os.ReadFile(dumped)
		t.Fatalf("the dump does not validate: %v\n%s", err, b)
	}
	if len(back.Routes) != len(orig.Routes) || len(back.Upstreams) != len(orig.Upstreams) ||
		back.Routes[0].URIs[0] != orig.Routes[0].URIs[0] || back.Routes[0].Wasm[0].Conf != orig.Routes[0].Wasm[0].Conf {
		t.Errorf("dump differs: %+v vs %+v", back.Routes[0], orig.Routes[0])
	}

	bad := filepath.Join(dir, "bad.yaml")
	gwtest.WriteFile(t, bad, "routes:\n  - id: 9\n    uri: nope\n    upstream_id: 1\nupstreams:\n  - id: 1\n    nodes: {\"127.0.0.1:1\": 1}\n#END\n")
	code, _, errOut = runCmd("config", "push", "-c", conf, bad)
	if code != 1 || !strings.Contains(errOut, "bad.yaml:3:10: routes[0].uri: uri \"nope\" must start with /") {
		t.Errorf("push invalid: exit %d\n%s", code, errOut)
	}
	resp, err := srv.Client().Get(context.Background(), "/apisix/routes/9")
	if err != nil || len(resp.Kvs) != 0 {
		t.Errorf("an invalid file wrote to etcd: %v %v", resp, err)
	}
}
