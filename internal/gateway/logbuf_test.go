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
