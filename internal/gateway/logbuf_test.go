package gateway

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/config"
)

// TestAccessLogBuffered: access-log lines reach the file within the flush
// interval without a Close, and every line is there after Close.
func TestAccessLogBuffered(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	m := &config.Main{}
	m.NginxConfig.LogLevel = slog.LevelWarn
	m.Heimdall.LogFormat = config.LogFormatText
	m.Heimdall.AccessLog = config.AccessLog{Enable: true, Path: path}
	logs, err := NewLogs(m, os.Stdout, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	read := func() string {
		b, _ := os.ReadFile(path)
		return string(b)
	}
	logs.Access.Info("access", "n", 1)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(read(), "n=1") {
		if time.Now().After(deadline) {
			t.Fatal("a buffered access-log line was never flushed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := 2; i <= 1000; i++ {
		logs.Access.Info("access", "n", i)
	}
	if err := logs.Close(); err != nil {
		t.Fatal(err)
	}
	got := read()
	if n := strings.Count(got, "msg=access"); n != 1000 {
		t.Fatalf("%d access-log lines after Close, want 1000", n)
	}
}

// recordWriter records each write it gets.
type recordWriter struct{ writes [][]byte }

func (r *recordWriter) Write(p []byte) (int, error) {
	r.writes = append(r.writes, append([]byte(nil), p...))
	return len(p), nil
}

// TestAccessLogKeepsRecordsWhole: a record never straddles two writes to
// the file, however full the buffer is.
func TestAccessLogKeepsRecordsWhole(t *testing.T) {
	out := &recordWriter{}
	b := newBufferedLog(out)
	rec := []byte(strings.Repeat("x", 999) + "\n") // 1000 bytes: 64 KiB is not a multiple
	for i := 0; i < 500; i++ {
		if _, err := b.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, w := range out.writes {
		if len(w)%len(rec) != 0 {
			t.Fatalf("a write of %d bytes splits a %d-byte record", len(w), len(rec))
		}
		total += len(w)
	}
	if total != 500*len(rec) {
		t.Fatalf("wrote %d bytes, want %d", total, 500*len(rec))
	}
}
