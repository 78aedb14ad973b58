package accesslog

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// slogLine is the line slog.TextHandler writes for e at t: the reference
// the encoder must match byte for byte (what the proxy logged before).
func slogLine(t time.Time, e *Entry) []byte {
	var buf bytes.Buffer
	h := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})
	r := slog.NewRecord(t, slog.LevelInfo, "access", 0)
	r.AddAttrs(
		slog.String("client", e.Client),
		slog.String("method", string(e.Method)),
		slog.String("path", string(e.Path)),
		slog.String("host", string(e.Host)),
		slog.String("proto", e.Proto),
		slog.Int("status", e.Status),
		slog.Int64("bytes", e.Bytes),
		slog.String("upstream", e.Upstream),
		slog.Duration("duration", e.Duration),
		slog.String("route_id", e.RouteID),
		slog.String("request_id", e.RequestID),
	)
	if err := h.Handle(context.Background(), r); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func check(t *testing.T, enc *encoder, tm time.Time, e *Entry) {
	t.Helper()
	want := slogLine(tm, e)
	got := enc.appendLine(nil, tm, e)
	if !bytes.Equal(got, want) {
		t.Errorf("time %v entry %+v:\n got %q\nwant %q", tm, *e, got, want)
	}
}

var base = Entry{
	Client: "127.0.0.1", Method: []byte("GET"), Path: []byte("/get?a=1"),
	Host: []byte("example.com"), Proto: "HTTP/1.1", Status: 200, Bytes: 1234,
	Upstream: "10.0.0.1:8080", Duration: 1500 * time.Microsecond,
	RouteID: "1", RequestID: "18c0a1-2a",
}

var trickyStrings = []string{
	"", " ", "a b", "a=b", "=", `"`, `a"b`, `\`, `a\b`, "\x7f", "\x00", "\t", "\n", "\r\n",
	"\x1f", "\x20", "ü", "日本語", "\u00a0", "\u2028", "\u200b", "\ufeff", "\U0001F600",
	"\xff", "a\xffb", "\xc3", "\xed\xa0\x80", "\ufffd", "\u0085", "\u3000", "%20", "/a/b/../c",
	"[::1]", "::1", "'single'", "`back`", "#frag", "é\u0301", "\x1b[31m", "😀 x",
	strings.Repeat("/segment", 300), strings.Repeat("é", 200) + " ",
}

func TestMatchesTextHandlerStrings(t *testing.T) {
	enc := &encoder{}
	tm := time.Date(2026, 11, 25, 17, 58, 48, 123456789, time.UTC)
	for _, s := range trickyStrings {
		fields := []func(e *Entry){
			func(e *Entry) { e.Client = s },
			func(e *Entry) { e.Method = []byte(s) },
			func(e *Entry) { e.Path = []byte(s) },
			func(e *Entry) { e.Host = []byte(s) },
			func(e *Entry) { e.Proto = s },
			func(e *Entry) { e.Upstream = s },
			func(e *Entry) { e.RouteID = s },
			func(e *Entry) { e.RequestID = s },
		}
		for _, set := range fields {
			e := base
			set(&e)
			check(t, enc, tm, &e)
		}
	}
	// Every single byte and every rune of the BMP's first planes in a path.
	for c := 0; c < 256; c++ {
		e := base
		e.Path = []byte{'/', byte(c)}
		check(t, enc, tm, &e)
	}
	for r := rune(0x80); r < 0x3000; r++ {
		e := base
		e.Path = []byte("/" + string(r))
		check(t, enc, tm, &e)
	}
	// Every ASCII byte quoted, with and without a non-ASCII tail.
	for c := 0; c < 256; c++ {
		for _, s := range []string{string([]byte{byte(c)}), "a" + string([]byte{byte(c)}) + "\"z", string([]byte{byte(c)}) + "é"} {
			if got, want := string(appendQuoted(nil, s)), strconv.Quote(s); got != want {
				t.Errorf("appendQuoted(%q) = %s, want %s", s, got, want)
			}
		}
	}
	// Empty and nil slices.
	e := base
	e.Method, e.Path, e.Host = nil, []byte{}, nil
	check(t, enc, tm, &e)
}

func TestMatchesTextHandlerNumbers(t *testing.T) {
	enc := &encoder{}
	tm := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	durations := []time.Duration{
		0, 1, -1, 999, 1000, 1001, 1500 * time.Microsecond, time.Millisecond, 999999999,
		time.Second, time.Second + 1, 61 * time.Second, time.Hour, 25*time.Hour + 3*time.Minute + 500*time.Millisecond,
		-time.Millisecond, -90 * time.Second, math.MaxInt64, math.MinInt64, math.MinInt64 + 1,
	}
	for _, d := range durations {
		e := base
		e.Duration = d
		check(t, enc, tm, &e)
	}
	for _, n := range []int64{0, -1, 1, 1 << 31, 1<<53 + 1, math.MaxInt64, math.MinInt64} {
		e := base
		e.Bytes = n
		check(t, enc, tm, &e)
	}
	for _, n := range []int{0, 100, 200, 499, 504, 999, -1, math.MaxInt, math.MinInt} {
		e := base
		e.Status = n
		check(t, enc, tm, &e)
	}
}

func TestMatchesTextHandlerTimes(t *testing.T) {
	est := time.FixedZone("EST", -5*3600)
	odd := time.FixedZone("", 5*3600+45*60+30) // seconds in the offset
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		ny = est
	}
	times := []time.Time{
		time.Date(2026, 11, 25, 17, 58, 48, 0, time.UTC),
		time.Date(2026, 11, 25, 17, 58, 48, 999999999, time.UTC),
		time.Date(2026, 11, 25, 17, 58, 48, 1000000, time.UTC),
		time.Date(2026, 11, 25, 17, 58, 48, 999999, time.UTC),
		time.Date(2026, 11, 25, 17, 58, 49, 100000000, time.UTC),
		time.Date(2026, 11, 25, 17, 58, 49, 100000000, est),
		time.Date(2026, 11, 25, 17, 58, 49, 100000000, odd),
		time.Date(2026, 11, 25, 17, 58, 49, 100000000, time.Local),
		time.Date(2026, 3, 8, 1, 59, 59, 999000000, ny), // just before a DST switch
		time.Date(2026, 3, 8, 3, 0, 0, 0, ny),
		time.Date(1969, 12, 31, 23, 59, 59, 500000000, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Now(),
		time.Now().Add(time.Hour),
	}
	enc := &encoder{}
	for _, tm := range times {
		e := base
		check(t, enc, tm, &e)
		check(t, enc, tm, &e) // from the cached second
		check(t, &encoder{}, tm, &e)
	}
	// A run of lines through several seconds, as the cache sees them.
	tm := time.Date(2026, 11, 25, 17, 58, 48, 0, time.Local)
	for i := 0; i < 3000; i++ {
		e := base
		check(t, enc, tm.Add(time.Duration(i)*777*time.Microsecond), &e)
	}
}

// TestHandler: Write goes to the writer, other records go through the
// TextHandler, Enabled follows the level, WithAttrs/WithGroup fall back to a
// plain TextHandler.
func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	var lv slog.LevelVar
	h := NewTextHandler(&buf, &lv)
	var _ slog.Handler = h
	if !h.Enabled(context.Background(), slog.LevelInfo) || h.Enabled(context.Background(), slog.LevelDebug) {
		t.Fatal("Enabled should follow the level")
	}
	tm := time.Date(2026, 11, 25, 17, 58, 48, 5e6, time.UTC)
	e := base
	if err := h.write(tm, &e); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), string(slogLine(tm, &e)); got != want {
		t.Fatalf("write: got %q want %q", got, want)
	}
	buf.Reset()
	slog.New(h).Info("hello", "n", 1)
	if !strings.Contains(buf.String(), " level=INFO msg=hello n=1\n") {
		t.Fatalf("Info through the handler: %q", buf.String())
	}
	buf.Reset()
	slog.New(h).With("a", "b").WithGroup("g").Info("x", "k", "v")
	if !strings.HasSuffix(buf.String(), " level=INFO msg=x a=b g.k=v\n") {
		t.Fatalf("With/WithGroup: %q", buf.String())
	}
	lv.Set(slog.LevelWarn)
	if h.Enabled(context.Background(), slog.LevelInfo) {
		t.Fatal("Enabled should follow a changed level")
	}
	buf.Reset()
	if err := h.Write(&e); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "time=") || !strings.HasSuffix(buf.String(), " request_id=18c0a1-2a\n") {
		t.Fatalf("Write: %q", buf.String())
	}
}

// lockedBuffer counts lines written concurrently.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func TestHandlerConcurrent(t *testing.T) {
	var out lockedBuffer
	h := NewTextHandler(&out, slog.LevelInfo)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				e := base
				e.Status = g
				h.Write(&e) //nolint:errcheck
			}
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(out.b.String(), "\n"), "\n")
	if len(lines) != 4000 {
		t.Fatalf("%d lines, want 4000", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "time=") || !strings.HasSuffix(l, " request_id=18c0a1-2a") {
			t.Fatalf("torn line %q", l)
		}
	}
}

func TestWriteAllocs(t *testing.T) {
	h := NewTextHandler(discard{}, slog.LevelInfo)
	e := base
	e.Path = []byte("/a path with spaces and \"quotes\" that is longer than thirty-two bytes")
	h.Write(&e)                                                          //nolint:errcheck
	if n := testing.AllocsPerRun(1000, func() { h.Write(&e) }); n != 0 { //nolint:errcheck
		t.Fatalf("%v allocations per line, want 0", n)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func FuzzMatchesTextHandler(f *testing.F) {
	f.Add("127.0.0.1", "GET", "/get?a=1", "example.com", "HTTP/1.1", 200, int64(1234), "10.0.0.1:80", int64(1500000), "1", "abc-1", int64(1764093528123456789), 0)
	f.Add("", "", "", "", "", 0, int64(0), "", int64(0), "", "", int64(0), 3600)
	f.Add("a b", "a=b", "\"q\"", "\xff", "ü\u00a0", -1, int64(-1), "\t", int64(-1), "\\", "\x7f", int64(-1), -3600)
	f.Add("::1", "DELETE", "/\x00\x1f\u2028", "h:1", "HTTP/2.0", 599, int64(math.MaxInt64), "x", int64(math.MinInt64), "r", "😀", int64(math.MaxInt64), 19800)
	f.Fuzz(func(t *testing.T, client, method, path, host, proto string, status int, nbytes int64,
		upstream string, dur int64, routeID, requestID string, unixNano int64, offset int) {
		loc := time.UTC
		if offset != 0 {
			loc = time.FixedZone("", offset%(26*3600))
		}
		tm := time.Unix(0, unixNano).In(loc)
		e := Entry{
			Client: client, Method: []byte(method), Path: []byte(path), Host: []byte(host),
			Proto: proto, Status: status, Bytes: nbytes, Upstream: upstream,
			Duration: time.Duration(dur), RouteID: routeID, RequestID: requestID,
		}
		enc := &encoder{}
		check(t, enc, tm, &e)
		check(t, enc, tm.Add(time.Duration(unixNano%1e9)), &e)
		for _, s := range []string{client, path, requestID} {
			if got, want := string(appendQuoted(nil, s)), strconv.Quote(s); got != want {
				t.Errorf("appendQuoted(%q) = %s, want %s", s, got, want)
			}
		}
	})
}

// BenchmarkLine: one access line, the way the proxy wrote it before (slog
// LogAttrs with 11 attrs on a TextHandler) and with Handler.Write.
func BenchmarkLine(b *testing.B) {
	e := base
	e.Path = []byte("/anything/some/longer/path?with=query&and=more")
	b.Run("slog", func(b *testing.B) {
		l := slog.New(slog.NewTextHandler(discard{}, &slog.HandlerOptions{Level: slog.LevelInfo}))
		ctx := context.Background()
		start := time.Now()
		b.ReportAllocs()
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
		h := NewTextHandler(discard{}, slog.LevelInfo)
		l := slog.New(h)
		ctx := context.Background()
		start := time.Now()
		b.ReportAllocs()
		for b.Loop() {
			if !l.Enabled(ctx, slog.LevelInfo) {
				b.Fatal("disabled")
			}
			h, _ := l.Handler().(*Handler)
			e.Duration = time.Since(start)
			h.Write(&e) //nolint:errcheck
		}
	})
}
