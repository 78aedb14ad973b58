package host

import (
	"strings"
	"testing"

	"github.com/heimdallgw/heimdall/internal/wasm/abi"
)

// TestSharedDataLimits: a namespace refuses a new key past SharedDataKeys
// and a value past SharedDataBytes (keys and values counted), with
// InternalFailure and the limit named; replacing a value with a smaller one
// gives the bytes back; other namespaces are not affected.
func TestSharedDataLimits(t *testing.T) {
	sh := NewShared()
	lim := Limits{SharedDataBytes: 100, SharedDataKeys: 3}.withDefaults()
	val := func(n int) []byte { return []byte(strings.Repeat("v", n)) }
	for _, tc := range []struct {
		name, key string
		n         int
		want      abi.Status
		limit     string
	}{
		{"first", "a", 40, abi.StatusOK, limitNone},  // 41 bytes
		{"second", "b", 40, abi.StatusOK, limitNone}, // 82
		{"too big", "c", 20, abi.StatusInternalFailure, limitSize},
		{"third", "c", 10, abi.StatusOK, limitNone}, // 93
		{"fourth key", "d", 1, abi.StatusInternalFailure, limitKeys},
		{"shrink a", "a", 5, abi.StatusOK, limitNone},                    // 58
		{"grow b into the freed room", "b", 75, abi.StatusOK, limitNone}, // 93
		{"grow b past", "b", 83, abi.StatusInternalFailure, limitSize},
	} {
		st, l := sh.set("vm1", tc.key, val(tc.n), 0, lim)
		if st != tc.want || l != tc.limit {
			t.Errorf("%s: status %v limit %q, want %v %q", tc.name, st, l, tc.want, tc.limit)
		}
	}
	if v, _, ok := sh.get("vm1", "b"); !ok || len(v) != 75 {
		t.Errorf("b holds %d bytes after a refused set, want 75", len(v))
	}
	if st, _ := sh.set("vm2", "d", val(90), 0, lim); st != abi.StatusOK {
		t.Errorf("another namespace: %v", st)
	}
}

func TestCutLine(t *testing.T) {
	if s, cut := cutLine([]byte("short"), 10); cut || s != "short" {
		t.Errorf("short line: %q %v", s, cut)
	}
	s, cut := cutLine([]byte(strings.Repeat("x", 100)), 10)
	if !cut || s != strings.Repeat("x", 10)+"...[truncated by heimdall: 90 bytes]" {
		t.Errorf("long line: %q %v", s, cut)
	}
}
