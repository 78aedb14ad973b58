// Package tracectx is W3C Trace Context (https://www.w3.org/TR/trace-context/)
// for the proxy: it checks a request's traceparent header and, when there
// is none or it is malformed, starts a trace with one, so every request
// reaching an upstream carries a trace id. It allocates nothing for a
// valid header and one string for a new one.
//
// A valid traceparent is passed through unchanged: Heimdall records no
// spans (there is no exporter yet), so it must not claim to be the parent.
package tracectx

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
)

// Header and StateHeader are the header names (lower case, as HTTP/2
// sends them).
const (
	Header      = "traceparent"
	StateHeader = "tracestate"
)

// Valid reports whether v is a traceparent this version of the spec
// accepts: version 00 exactly "00-<32 hex>-<16 hex>-<2 hex>", a higher
// version at least that long with "-" after the flags; lower-case hex,
// trace id and parent id not all zero, version not ff.
func Valid(v []byte) bool {
	if len(v) < 55 || !hex2(v[0:2]) || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return false
	}
	if v[0] == 'f' && v[1] == 'f' {
		return false
	}
	if v[0] == '0' && v[1] == '0' {
		if len(v) != 55 {
			return false
		}
	} else if len(v) > 55 && v[55] != '-' {
		return false
	}
	return hexNonZero(v[3:35]) && hexNonZero(v[36:52]) && hex2(v[53:55])
}

// TraceID returns the trace id of a Valid traceparent.
func TraceID(v []byte) []byte { return v[3:35] }

// New returns a traceparent starting a new trace: random trace and parent
// ids, flags 00 (not sampled: nothing is recorded).
func New() string {
	// math/rand/v2's global source is ChaCha8 seeded from the OS: ids
	// that do not collide, at a fraction of crypto/rand's cost.
	var id [24]byte
	binary.LittleEndian.PutUint64(id[0:], rand.Uint64())
	binary.LittleEndian.PutUint64(id[8:], rand.Uint64())
	binary.LittleEndian.PutUint64(id[16:], rand.Uint64()|1) // never all zero
	var b [55]byte
	copy(b[:], "00-")
	hex.Encode(b[3:35], id[:16])
	b[35] = '-'
	hex.Encode(b[36:52], id[16:])
	copy(b[52:], "-00")
	return string(b[:])
}

func hex2(b []byte) bool { return isHex(b[0]) && isHex(b[1]) }

// hexNonZero: lower-case hex digits, not all '0'.
func hexNonZero(b []byte) bool {
	zero := true
	for _, c := range b {
		if !isHex(c) {
			return false
		}
		if c != '0' {
			zero = false
		}
	}
	return !zero
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }
