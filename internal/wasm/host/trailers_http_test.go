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

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/proxy"
	"github.com/heimdallgw/heimdall/internal/server"
)

// TestTrailersThroughHTTP: the conformance plugin's trailer callbacks run
// behind a real HTTP/1.1 listener: proxy_on_request_trailers reads and adds
// to the request trailers (map type 1), which reach the upstream;
// proxy_on_response_trailers adds to the response trailers (map type 3),
// which reach the client with the upstream's own.
func TestTrailersThroughHTTP(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "X-Up")
		json.NewEncoder(w).Encode(map[string]any{"body": string(b), "trailer": r.Trailer}) //nolint:errcheck
		w.(http.Flusher).Flush()
		w.Header().Set("X-Up", "1")
	}))
	t.Cleanup(echo.Close)
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(echo.URL, "http://"))
	pn, _ := strconv.Atoi(port)
	up, err := proxy.NewUpstream(&config.Upstream{ID: "echo", Type: config.BalancerRoundRobin, Scheme: "http", PassHost: "pass",
		Timeout: config.Timeout{Connect: 2 * time.Second, Send: 5 * time.Second, Read: 5 * time.Second},
		Nodes:   []config.Node{{Host: host, Port: pn, Weight: 1}}}, proxy.UpstreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	p, _ := loadConformance(t, PluginConfig{PoolSize: 1, CallTimeout: 300 * time.Millisecond})
	route := &proxy.Route{ID: "r1", Upstream: up, Filters: []filter.Factory{newFactory(t, p, "")}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	px := proxy.New(proxy.Options{AccessLog: log, ErrorLog: log})
	px.SetRoutes(proxy.NewTable(func(_, _, _ []byte) *proxy.Route { return route }))
	srv := server.New(server.Config{ErrorLog: log}, px)
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

	// Unknown length: chunked, with a trailer.
	req, err := http.NewRequest("POST", "http://"+l.Addr().String()+"/t", io.MultiReader(strings.NewReader("a"), strings.NewReader("b")))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-test", "trailers")
	req.Trailer = http.Header{"X-Trailer": {"abc"}}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Body    string
		Trailer http.Header
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck // to the end: trailers
	if resp.StatusCode != 200 || got.Body != "ab" {
		t.Fatalf("status %d, upstream body %q", resp.StatusCode, got.Body)
	}
	if got.Trailer.Get("X-Trailer") != "abc" || got.Trailer.Get("X-Trailer-Seen") != "abc" {
		t.Errorf("upstream request trailers %v", got.Trailer)
	}
	if v := resp.Header.Get("X-Req-Trailers"); v != "1" {
		t.Errorf("plugin saw %q request trailers, want 1", v)
	}
	if resp.Trailer.Get("X-Resp-Trailer") != "added" || resp.Trailer.Get("X-Up") != "1" {
		t.Errorf("client response trailers %v", resp.Trailer)
	}
}
