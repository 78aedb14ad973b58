package host

import (
	"testing"

	"github.com/heimdallgw/heimdall/internal/wasm/abi"
)

// TestSetFilterStateDecode: bytes that are not a SetEnvoyFilterStateArguments
// message are refused before any state is touched (a nil vm would panic if
// they reached it).
func TestSetFilterStateDecode(t *testing.T) {
	for _, tt := range []struct {
		name string
		args string
		want abi.Status
	}{
		{"truncated length", "\x0a\x09x.ff", abi.StatusSerializationFailure},
		{"truncated varint", "\x0a\x04x.ff\x18\x80", abi.StatusSerializationFailure},
		{"fixed32 wire type", "\x0d\x00\x00\x00\x00", abi.StatusSerializationFailure},
		{"no path", "\x12\x02v1", abi.StatusBadArgument},
		{"empty", "", abi.StatusBadArgument},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, st := ffSetFilterState(nil, []byte(tt.args)); st != tt.want {
				t.Fatalf("status = %d, want %d", st, tt.want)
			}
		})
	}
}

// TestUncompressBounded: a zlib stream inflating past maxUncompressed is
// refused rather than allocated.
func TestUncompressBounded(t *testing.T) {
	big := make([]byte, maxUncompressed+1)
	c, st := ffCompress(nil, big)
	if st != abi.StatusOK {
		t.Fatal(st)
	}
	if _, st := ffUncompress(nil, c); st != abi.StatusSerializationFailure {
		t.Fatalf("status = %d, want SerializationFailure", st)
	}
	small, _ := ffCompress(nil, []byte("hello"))
	if _, st := ffUncompress(nil, small[:len(small)-4]); st != abi.StatusSerializationFailure {
		t.Fatalf("truncated stream: status = %d, want SerializationFailure", st)
	}
}
