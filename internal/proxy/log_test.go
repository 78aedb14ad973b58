package proxy_test

import (
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/heimdallgw/heimdall/internal/proxy"
	"github.com/heimdallgw/heimdall/internal/server"
	"github.com/heimdallgw/heimdall/internal/testutil/logbuf"
)

// syncBuf is a JSON log sink.
type syncBuf struct{ logbuf.Buffer }

func (s *syncBuf) lines(t *testing.T) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestLogs(t *testing.T) {
	var access, errs syncBuf
	live := named(t, "live")
	dead := deadAddr(t)
	p := proxy.New(proxy.Options{
		AccessLog: slog.New(slog.NewJSONHandler(&access, nil)),
		ErrorLog:  slog.New(slog.NewJSONHandler(&errs, nil)),
	})
	p.SetRoutes(prefixTable(map[string]*proxy.Route{
		"/ok":   {ID: "ok", Upstream: upstream(t, nil, hostPort(live))},
		"/dead": {ID: "dead", Upstream: upstream(t, nil, dead)},
	}))
	srv := server.New(server.Config{}, p)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(l) //nolint:errcheck
	defer srv.Shutdown(t.Context())
	c := newEnv(t, server.Config{}, nil).h1
	base := "http://" + l.Addr().String()
	do(t, c, "GET", base+"/ok?q=1", nil, map[string]string{"X-Request-Id": "rid-1"})
	do(t, c, "GET", base+"/dead", nil, map[string]string{"Host": "api.example"})

	al := access.lines(t)
	if len(al) != 2 {
		t.Fatalf("%d access lines, want 2", len(al))
	}
	want := map[string]any{"client": "127.0.0.1", "method": "GET", "path": "/ok?q=1", "status": 200.0,
		"bytes": 4.0, "upstream": hostPort(live), "route_id": "ok", "request_id": "rid-1"}
	for k, v := range want {
		if al[0][k] != v {
			t.Errorf("access %s = %v, want %v", k, al[0][k], v)
		}
	}
	if _, ok := al[0]["duration"]; !ok {
		t.Error("access line without duration")
	}
	if al[1]["status"] != 502.0 {
		t.Errorf("second access status %v", al[1]["status"])
	}
	el := errs.lines(t)
	if len(el) != 1 {
		t.Fatalf("%d error lines, want 1", len(el))
	}
	wantErr := map[string]any{"client": "127.0.0.1", "request": "GET /dead HTTP/1.1", "host": "api.example",
		"upstream": "http://" + dead + "/dead", "route_id": "dead"}
	for k, v := range wantErr {
		if el[0][k] != v {
			t.Errorf("error log %s = %v, want %v", k, el[0][k], v)
		}
	}
}
