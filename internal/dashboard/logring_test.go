package dashboard

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestRing: the tee writes every record to the inner handler and keeps the
// ones with a plugin attribute (from With or the record) in a bounded ring;
// Since returns what follows a sequence number and signals the next line.
func TestRing(t *testing.T) {
	var out bytes.Buffer
	r := NewRing(3)
	log := slog.New(r.Handler(slog.NewTextHandler(&out, nil)))
	log.Info("not a plugin")
	pl := log.With("plugin", "p1")
	lines, more := r.Since(0)
	if len(lines) != 0 {
		t.Fatalf("lines: %+v", lines)
	}
	pl.Info("one", "route", "r1", "k", "v")
	select {
	case <-more:
	default:
		t.Fatal("no signal for a new line")
	}
	for _, m := range []string{"two", "three", "four"} {
		pl.Warn(m)
	}
	log.Info("five", "plugin", "p2")
	lines, _ = r.Since(0)
	var got []string
	for _, l := range lines {
		got = append(got, l.Plugin+":"+l.Msg)
	}
	if strings.Join(got, " ") != "p1:three p1:four p2:five" || lines[0].Seq != 3 || lines[0].Level != "WARN" {
		t.Fatalf("ring: %v %+v", got, lines)
	}
	if lines, _ := r.Since(4); len(lines) != 1 || lines[0].Msg != "five" {
		t.Fatalf("since 4: %+v", lines)
	}
	if n := strings.Count(out.String(), "\n"); n != 6 {
		t.Fatalf("inner handler got %d records:\n%s", n, &out)
	}
	r2 := NewRing(2)
	slog.New(r2.Handler(slog.NewTextHandler(&out, nil))).With("plugin", "p").Info("m", "route", "r9", "k", "v")
	l, _ := r2.Since(0)
	if len(l) != 1 || l[0].Route != "r9" || l[0].Attrs["k"] != "v" {
		t.Fatalf("attrs: %+v", l)
	}
}
