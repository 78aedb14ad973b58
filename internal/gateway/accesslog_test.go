package gateway

import (
	"context"
	"io"
	"log/slog"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/accesslog"
	"github.com/heimdallgw/heimdall/internal/config"
)

// TestAccessLogHandler: the text access log has the proxy's fast handler,
// the JSON one a plain slog.JSONHandler.
func TestAccessLogHandler(t *testing.T) {
	for _, format := range []string{config.LogFormatText, config.LogFormatJSON} {
		m := &config.Main{}
		m.Heimdall.LogFormat = format
		m.Heimdall.AccessLog = config.AccessLog{Enable: true}
		logs, err := NewLogs(m, io.Discard, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		_, fast := logs.Access.Handler().(*accesslog.Handler)
		if fast != (format == config.LogFormatText) {
			t.Errorf("format %s: access handler %T", format, logs.Access.Handler())
		}
		if !logs.Access.Enabled(context.Background(), slog.LevelInfo) {
			t.Errorf("format %s: access log not enabled at Info", format)
		}
		logs.Close() //nolint:errcheck
	}
}

// BenchmarkAccessLine: one access line into the buffered access log (to
// /dev/null), through slog as the proxy wrote it before and through
// accesslog.Handler.Write.
func BenchmarkAccessLine(b *testing.B) {
	e := accesslog.Entry{
		Client: "127.0.0.1", Method: []byte("GET"), Path: []byte("/anything/some/longer/path?with=query&and=more"),
		Host: []byte("127.0.0.1:9080"), Proto: "HTTP/1.1", Status: 200, Bytes: 578,
		Upstream: "127.0.0.1:18080", RouteID: "1", RequestID: "dca24558f6-5ae",
	}
	open := func(b *testing.B) *bufferedLog {
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			b.Skip(err)
		}
		w := newBufferedLog(f)
		b.Cleanup(func() { w.Close() }) //nolint:errcheck
		return w
	}
	start := time.Now()
	ctx := context.Background()
	// cpu-ns/op is the process's CPU time (all threads, GC included) per
	// line: steadier than ns/op on a shared machine.
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru) //nolint:errcheck
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b.Run("slog", func(b *testing.B) {
		l := slog.New(slog.NewTextHandler(open(b), &slog.HandlerOptions{Level: slog.LevelInfo}))
		b.ReportAllocs()
		c0 := cpu()
		defer func() { b.ReportMetric(float64(cpu()-c0)/float64(b.N), "cpu-ns/op") }()
		for b.Loop() {
			if !l.Enabled(ctx, slog.LevelInfo) {
				b.Fatal("disabled")
			}
			l.LogAttrs(ctx, slog.LevelInfo, "access",
				slog.String("client", e.Client),
				slog.String("method", string(e.Method)),
				slog.String("path", string(e.Path)),
				slog.String("host", string(e.Host)),
				slog.String("proto", e.Proto),
				slog.Int("status", e.Status),
				slog.Int64("bytes", e.Bytes),
				slog.String("upstream", e.Upstream),
				slog.Duration("duration", time.Since(start)),
				slog.String("route_id", e.RouteID),
				slog.String("request_id", e.RequestID),
			)
		}
	})
	b.Run("accesslog", func(b *testing.B) {
		l := slog.New(accesslog.NewTextHandler(open(b), slog.LevelInfo))
		b.ReportAllocs()
		c0 := cpu()
		defer func() { b.ReportMetric(float64(cpu()-c0)/float64(b.N), "cpu-ns/op") }()
		for b.Loop() {
			if !l.Enabled(ctx, slog.LevelInfo) {
				b.Fatal("disabled")
			}
			h, _ := l.Handler().(*accesslog.Handler)
			e.Duration = time.Since(start)
			h.Write(&e) //nolint:errcheck
		}
	})
}
