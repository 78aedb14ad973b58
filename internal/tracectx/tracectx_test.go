package tracectx

import (
	"strings"
	"testing"
)

// TestValid follows the spec's rules for version 00 and future versions.
func TestValid(t *testing.T) {
	const good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, c := range []struct {
		v  string
		ok bool
	}{
		{good, true},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future", true},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
		{good + "-x", false}, // version 00 has nothing after the flags
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", false},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", false},
		{"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
		{"", false},
	} {
		if got := Valid([]byte(c.v)); got != c.ok {
			t.Errorf("Valid(%q) = %v", c.v, got)
		}
	}
	if string(TraceID([]byte(good))) != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Error("TraceID")
	}
}

// TestNew: a new traceparent is valid, not sampled, and random.
func TestNew(t *testing.T) {
	a, b := New(), New()
	if !Valid([]byte(a)) || !strings.HasSuffix(a, "-00") || a[3:35] == b[3:35] || a[36:52] == b[36:52] {
		t.Fatalf("New: %q %q", a, b)
	}
}

func BenchmarkValid(b *testing.B) {
	v := []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	b.ReportAllocs()
	for b.Loop() {
		if !Valid(v) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = New()
	}
}
