package proxy_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/heimdallgw/heimdall/internal/accesslog"
	"github.com/heimdallgw/heimdall/internal/config"
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

// BenchmarkProxyAccessLog is BenchmarkProxy's GET with the access log off,
// through slog.TextHandler and through accesslog.Handler (both writing to
// a discarding writer). cpu-ns/op is the process's CPU time per request
// (upstream included), steadier than ns/op on a shared machine.
func BenchmarkProxyAccessLog(b *testing.B) {
	addr := fastUpstream(b)
	for _, c := range []struct {
		name string
		log  *slog.Logger
	}{
		{"off", nil},
		{"slog", slog.New(slog.NewTextHandler(discardWriter{}, nil))},
		{"accesslog", slog.New(accesslog.NewTextHandler(discardWriter{}, slog.LevelInfo))},
	} {
		b.Run(c.name, func(b *testing.B) {
			host, port, _ := net.SplitHostPort(addr)
			pn, _ := strconv.Atoi(port)
			u, err := proxy.NewUpstream(&config.Upstream{ID: "u", Nodes: []config.Node{{Host: host, Port: pn, Weight: 1}}, Retries: -1}, proxy.UpstreamOptions{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { u.Close() })
			route := &proxy.Route{ID: "r", Upstream: u}
			p := proxy.New(proxy.Options{AccessLog: c.log})
			p.SetRoutes(proxy.NewTable(func(_, _, _ []byte) *proxy.Route { return route }))
			ctx := context.Background()
			buf := make([]byte, 4096)
			var ru0, ru1 syscall.Rusage
			b.ReportAllocs()
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru0) //nolint:errcheck
			for b.Loop() {
				s := p.NewStream()
				x := &s.X
				x.Req.SetMethod([]byte("GET"))
				x.Req.SetPath([]byte("/bench?x=1"))
				x.Req.SetAuthority([]byte("gw.example"))
				x.Req.SetScheme([]byte("http"))
				x.Req.Proto = "HTTP/1.1"
				x.Client, x.ClientIP, x.Local = "127.0.0.1:5555", "127.0.0.1", "127.0.0.1:9080"
				p.Serve(ctx, s)
				if x.Resp.Status != 200 {
					b.Fatalf("status %d", x.Resp.Status)
				}
				for {
					if _, err := s.Read(buf); err == io.EOF {
						break
					} else if err != nil {
						b.Fatal(err)
					}
				}
				s.Close()
			}
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru1) //nolint:errcheck
			cpu := ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano()
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
