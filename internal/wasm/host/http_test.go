package host

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mccutchen/go-httpbin/v2/httpbin"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/proxy"
	"github.com/heimdallgw/heimdall/internal/server"
)

// gateway is a real HTTP listener (internal/server + internal/proxy) in
// front of go-httpbin, with the given filters on every route.
func gateway(t *testing.T, filters []filter.Factory) string {
	t.Helper()
	hb := httptest.NewServer(httpbin.New())
	t.Cleanup(hb.Close)
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(hb.URL, "http://"))
	pn, _ := strconv.Atoi(port)
	ucfg := &config.Upstream{ID: "httpbin", Type: config.BalancerRoundRobin, Scheme: "http", PassHost: "pass", Retries: -1,
		Timeout: config.Timeout{Connect: 2 * time.Second, Send: 5 * time.Second, Read: 5 * time.Second},
		Nodes:   []config.Node{{Host: host, Port: pn, Weight: 1}}}
	up, err := proxy.NewUpstream(ucfg, proxy.UpstreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := proxy.New(proxy.Options{AccessLog: log, ErrorLog: log})
	route := &proxy.Route{ID: "r1", Upstream: up, Filters: filters}
	p.SetRoutes(proxy.NewTable(func(_, _, _ []byte) *proxy.Route { return route }))
	srv := server.New(server.Config{ErrorLog: log}, p)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l) //nolint:errcheck
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck
	})
	return "http://" + l.Addr().String()
}

func doHTTP(t *testing.T, method, url string, bodyAndHdr ...string) (*http.Response, string) {
	t.Helper()
	var body string
	var hdr []string
	if len(bodyAndHdr) > 0 {
		body, hdr = bodyAndHdr[0], bodyAndHdr[1:]
	}
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestThroughHTTP runs the conformance plugin behind a real listener with
// go-httpbin as the upstream.
func TestThroughHTTP(t *testing.T) {
	p, logs := loadConformance(t, PluginConfig{PoolSize: 2, CallTimeout: 300 * time.Millisecond})
	f := newFactory(t, p, "tick")
	base := gateway(t, []filter.Factory{f})

	type echo struct {
		Data    string              `json:"data"`
		URL     string              `json:"url"`
		Headers map[string][]string `json:"headers"`
	}
	parse := func(t *testing.T, body string) echo {
		var e echo
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		return e
	}

	t.Run("request and response headers, path rewrite", func(t *testing.T) {
		resp, body := doHTTP(t, "GET", base+"/anything/orig", "", "x-test", "addreq,removereq,addresp,path,log", "x-remove", "1")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		e := parse(t, body)
		if e.Headers["X-Added"] == nil || e.Headers["X-Remove"] != nil {
			t.Errorf("upstream headers %v", e.Headers)
		}
		if !strings.Contains(e.URL, "/anything/rewritten?x=1") {
			t.Errorf("upstream url %q", e.URL)
		}
		if resp.Header.Get("x-resp-added") != "1" {
			t.Errorf("response headers %v", resp.Header)
		}
		if !strings.Contains(logs.String(), "#request_header") {
			t.Errorf("plugin log lines missing from the gateway log")
		}
	})
	t.Run("request body rewrite with Content-Length", func(t *testing.T) {
		resp, body := doHTTP(t, "POST", base+"/anything", "hello", "x-test", "reqbuffer,reqappend,reqprepend", "content-type", "text/plain")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		e := parse(t, body)
		want := "[prepended]hello[appended]"
		if e.Data != want {
			t.Errorf("upstream body %q", e.Data)
		}
		if cl := e.Headers["Content-Length"]; len(cl) != 1 || cl[0] != strconv.Itoa(len(want)) {
			t.Errorf("upstream Content-Length %v", cl)
		}
	})
	t.Run("response body replace with Content-Length", func(t *testing.T) {
		resp, body := doHTTP(t, "GET", base+"/base64/aGVsbG8=", "", "x-test", "respbuffer,respreplace")
		if body != "replaced(hello)" {
			t.Errorf("body %q", body)
		}
		if resp.ContentLength != int64(len("replaced(hello)")) && resp.ContentLength != -1 {
			t.Errorf("Content-Length %d", resp.ContentLength)
		}
	})
	t.Run("local response", func(t *testing.T) {
		resp, body := doHTTP(t, "GET", base+"/anything", "", "x-test", "local")
		if resp.StatusCode != 403 || body != "denied by plugin" || resp.Header.Get("x-local") != "yes" {
			t.Errorf("%d %q %v", resp.StatusCode, body, resp.Header)
		}
	})
	t.Run("pause then continue from tick", func(t *testing.T) {
		resp, body := doHTTP(t, "GET", base+"/anything", "", "x-test", "pause")
		if resp.StatusCode != 200 || parse(t, body).Headers["X-Resumed"] == nil {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("trap gives 503, next request works", func(t *testing.T) {
		resp, _ := doHTTP(t, "GET", base+"/anything", "", "x-test", "trap")
		if resp.StatusCode != 503 {
			t.Errorf("trap: status %d", resp.StatusCode)
		}
		resp, _ = doHTTP(t, "GET", base+"/anything", "", "x-test", "loop")
		if resp.StatusCode != 503 {
			t.Errorf("loop: status %d", resp.StatusCode)
		}
		for i := 0; i < 4; i++ {
			resp, body := doHTTP(t, "GET", base+"/anything", "", "x-test", "addreq")
			if resp.StatusCode != 200 {
				t.Errorf("after trap: %d %s", resp.StatusCode, body)
			}
		}
	})
}
