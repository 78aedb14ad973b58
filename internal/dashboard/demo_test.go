package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/dashboard"
	"github.com/heimdallgw/heimdall/internal/gateway"
	"github.com/heimdallgw/heimdall/internal/testutil/gwtest"
	"github.com/heimdallgw/heimdall/internal/testutil/logbuf"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

// demo runs the real gateway with the demo configuration (conf/config.yaml
// and conf/apisix.yaml, with the heimdall plugin built from source and the
// upstream a real httpbin) and returns the gateway and dashboard URLs.
type demo struct {
	gw, ui string
	log    *logbuf.Buffer
}

func startDemo(t *testing.T) *demo {
	t.Helper()
	root, err := wasmbuild.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	wasm := wasmbuild.MustBuild(t, "plugins/heimdall")
	mainText := read(t, filepath.Join(root, "conf/config.yaml"))
	if !strings.Contains(mainText, "../build/plugins/heimdall.wasm") || !strings.Contains(mainText, "dashboard: true") {
		t.Fatal("conf/config.yaml changed: update this test")
	}
	mainText = strings.Replace(mainText, "../build/plugins/heimdall.wasm", wasm, 1)
	routes := read(t, filepath.Join(root, "conf/apisix.yaml"))
	up := strings.TrimPrefix(gwtest.HTTPBin(t).URL, "http://")
	routes = strings.Replace(routes, "127.0.0.1:8080", up, 1)
	m, _ := gwtest.Load(t, mainText, routes)
	gwtest.Loopback(m, 0)
	d := &demo{log: &logbuf.Buffer{}}
	logs, err := gateway.NewLogs(m, io.Discard, d.log)
	if err != nil {
		t.Fatal(err)
	}
	uiAddr := make(chan net.Addr, 1)
	g := gwtest.Start(t, d.log, func(ctx context.Context, ready func(plain, tls []net.Addr)) error {
		return gateway.Run(ctx, m, logs, gateway.RunOptions{
			AdminReady: func(a net.Addr) { uiAddr <- a },
			Ready:      ready,
		})
	})
	select {
	case a := <-uiAddr:
		d.ui = "http://" + a.String() + dashboard.Prefix
	default:
		t.Fatal("heimdall.dashboard: true but no dashboard listener")
	}
	d.gw = g.URL
	return d
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDemoDashboard: on the demo configuration the dashboard listener
// serves the embedded page, the state names the demo route with its
// plugins and the heimdall plugin's instances, and the event stream carries
// the request count and the plugin's #request_header log line of a request
// sent after the stream was opened.
func TestDemoDashboard(t *testing.T) {
	d := startDemo(t)

	code, body := fetch(t, d.ui)
	if code != 200 || !strings.Contains(body, `<script type="module" src="app.js">`) {
		t.Fatalf("GET %s: %d %.200q", d.ui, code, body)
	}
	if code, body := fetch(t, d.ui+"app.js"); code != 200 || !strings.Contains(body, "api/stream") {
		t.Fatalf("GET app.js: %d %.100q", code, body)
	}
	if code, _ := fetch(t, strings.TrimSuffix(d.ui, "/ui/")+"/apisix/admin/routes"); code != 404 {
		t.Fatalf("standalone mode: Admin API answered %d, want 404 (dashboard only)", code)
	}

	code, body = fetch(t, d.ui+"api/state")
	var st dashboard.State
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil {
		t.Fatalf("state: %d %q %v", code, body, err)
	}
	if len(st.Routes) != 1 || st.Routes[0].ID != "1" || st.Routes[0].Upstream != "1" ||
		strings.Join(st.Routes[0].Plugins, ",") != "proxy-rewrite,heimdall" {
		t.Fatalf("routes: %+v", st.Routes)
	}
	if len(st.Plugins) != 1 || st.Plugins[0].Name != "heimdall" || st.Plugins[0].Slots == 0 ||
		strings.Join(st.Plugins[0].Routes, ",") != "1" || !st.Metrics {
		t.Fatalf("plugins: %+v", st.Plugins)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", d.ui+"api/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, ct)
	}
	events := sse(resp.Body)
	first := next(t, events, "traffic")
	var s0 dashboard.Sample
	json.Unmarshal([]byte(first), &s0) //nolint:errcheck // checked by the comparison below

	if code, _ := fetch(t, d.gw+"/httpbin/get?from=dashboard-test"); code != 200 {
		t.Fatalf("request through the gateway: %d\n%s", code, d.log)
	}
	// Both must show up: the request in the totals (exactly one more, a
	// 2xx) and the plugin's #request_header line for it.
	counted, logged := false, false
	for !counted || !logged {
		e := <-events
		switch e.name {
		case "":
			t.Fatalf("stream ended (counted %v, logged %v)\n%s", counted, logged, d.log)
		case "traffic":
			var s dashboard.Sample
			json.Unmarshal([]byte(e.data), &s) //nolint:errcheck // checked below
			if s.Requests > s0.Requests+1 {
				t.Fatalf("traffic went from %+v to %+v after one request", s0, s)
			}
			counted = counted || s.Requests == s0.Requests+1 && s.ByClass[2] == s0.ByClass[2]+1 && s.Egress > s0.Egress
		case "log":
			var l dashboard.Line
			json.Unmarshal([]byte(e.data), &l) //nolint:errcheck // checked below
			logged = logged || l.Plugin == "heimdall" && strings.HasPrefix(l.Msg, "#request_header") &&
				strings.Contains(l.Attrs["request"], "/get?from=dashboard-test")
		}
	}
}

type event struct{ name, data string }

func sse(r io.Reader) <-chan event {
	ch := make(chan event, 64)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		var e event
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				e.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				e.data += line[6:]
			case line == "":
				ch <- e
				e = event{}
			}
		}
	}()
	return ch
}

// next returns the data of the next event named name, skipping others.
func next(t *testing.T, ch <-chan event, name string) string {
	t.Helper()
	for e := range ch {
		if e.name == name {
			return e.data
		}
	}
	t.Fatalf("stream ended before a %q event", name)
	return ""
}

func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
