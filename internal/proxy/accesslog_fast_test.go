package proxy_test

import (
	"log/slog"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/heimdallgw/heimdall/internal/accesslog"
	"github.com/heimdallgw/heimdall/internal/proxy"
	"github.com/heimdallgw/heimdall/internal/server"
	"github.com/heimdallgw/heimdall/internal/testutil/logbuf"
)

// TestAccessLogFastPath: with an accesslog.Handler the proxy writes the same
// access lines as through slog.TextHandler, up to the time and duration.
func TestAccessLogFastPath(t *testing.T) {
	live := named(t, "live")
	dead := deadAddr(t)
	routes := map[string]*proxy.Route{
		"/ok":   {ID: "ok", Upstream: upstream(t, nil, hostPort(live))},
		"/dead": {ID: "dead route", Upstream: upstream(t, nil, dead)},
	}
	lines := func(mk func(*logbuf.Buffer) slog.Handler) []string {
		var out logbuf.Buffer
		p := proxy.New(proxy.Options{AccessLog: slog.New(mk(&out))})
		p.SetRoutes(prefixTable(routes))
		srv := server.New(server.Config{}, p)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(l) //nolint:errcheck
		defer srv.Shutdown(t.Context())
		c := newEnv(t, server.Config{}, nil).h1
		base := "http://" + l.Addr().String()
		do(t, c, "GET", base+"/ok?q=1&e=%22x%22", nil, map[string]string{"X-Request-Id": "rid 1"})
		do(t, c, "POST", base+"/ok/ü", strings.NewReader("body"), map[string]string{"Host": "api.example"})
		do(t, c, "GET", base+"/dead", nil, map[string]string{"Host": "h=1", "X-Request-Id": `"q"`})
		// Mask what differs between two runs.
		s := regexp.MustCompile(`time=\S+`).ReplaceAllString(out.String(), "time=T")
		s = regexp.MustCompile(`duration=\S+`).ReplaceAllString(s, "duration=D")
		s = regexp.MustCompile(`127\.0\.0\.1:\d+`).ReplaceAllString(s, "ADDR")
		s = regexp.MustCompile(`request_id=\S+-[0-9a-f]+\n`).ReplaceAllString(s, "request_id=ID\n")
		return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	}
	want := lines(func(b *logbuf.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) })
	got := lines(func(b *logbuf.Buffer) slog.Handler { return accesslog.NewTextHandler(b, slog.LevelInfo) })
	if len(want) != 3 || len(got) != len(want) {
		t.Fatalf("lines:\n%q\nwant\n%q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
	t.Log(strings.Join(got, "\n"))
}
