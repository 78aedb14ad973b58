// Package abi holds the proxy-wasm ABI constants (0.1.0, 0.2.0, 0.2.1) and
// the wire encodings the host and guests share. It has no dependencies and
// knows nothing about the runtime.
package abi

import (
	"encoding/binary"
	"errors"
)

// Status is a host function's return value.
type Status uint32

// Statuses.
const (
	StatusOK                   Status = 0
	StatusNotFound             Status = 1
	StatusBadArgument          Status = 2
	StatusSerializationFailure Status = 3
	StatusParseFailure         Status = 4
	StatusBadExpression        Status = 5
	StatusInvalidMemoryAccess  Status = 6
	StatusEmpty                Status = 7
	StatusCasMismatch          Status = 8
	StatusResultMismatch       Status = 9
	StatusInternalFailure      Status = 10
	StatusBrokenConnection     Status = 11
	StatusUnimplemented        Status = 12
)

var statusNames = [...]string{"Ok", "NotFound", "BadArgument", "SerializationFailure", "ParseFailure",
	"BadExpression", "InvalidMemoryAccess", "Empty", "CasMismatch", "ResultMismatch",
	"InternalFailure", "BrokenConnection", "Unimplemented"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "Status(" + itoa(uint64(s)) + ")"
}

// BufferType selects a buffer in get/set_buffer_bytes.
type BufferType uint32

// Buffer types.
const (
	BufferHTTPRequestBody      BufferType = 0
	BufferHTTPResponseBody     BufferType = 1
	BufferDownstreamData       BufferType = 2
	BufferUpstreamData         BufferType = 3
	BufferHTTPCallResponseBody BufferType = 4
	BufferGrpcReceiveBuffer    BufferType = 5
	BufferVMConfiguration      BufferType = 6
	BufferPluginConfiguration  BufferType = 7
	BufferCallData             BufferType = 8
	// BufferRedisCallResponse is Higress's reply buffer.
	BufferRedisCallResponse BufferType = 9
)

// MapType selects a header map.
type MapType uint32

// Map types.
const (
	MapHTTPRequestHeaders       MapType = 0
	MapHTTPRequestTrailers      MapType = 1
	MapHTTPResponseHeaders      MapType = 2
	MapHTTPResponseTrailers     MapType = 3
	MapGrpcReceiveInitialMeta   MapType = 4
	MapGrpcReceiveTrailingMeta  MapType = 5
	MapHTTPCallResponseHeaders  MapType = 6
	MapHTTPCallResponseTrailers MapType = 7
)

// LogLevel is a proxy_log level.
type LogLevel uint32

// Log levels.
const (
	LogTrace    LogLevel = 0
	LogDebug    LogLevel = 1
	LogInfo     LogLevel = 2
	LogWarn     LogLevel = 3
	LogError    LogLevel = 4
	LogCritical LogLevel = 5
)

// Action is an HTTP callback's answer.
type Action uint32

// Actions. Pause is StopIteration in 0.1.0.
const (
	ActionContinue Action = 0
	ActionPause    Action = 1
	// 0.1.0 also had StopAllIterationAndBuffer (2) and
	// StopAllIterationAndWatermark (3); both pause.
)

// StreamType selects the direction in continue_stream / close_stream.
type StreamType uint32

// Stream types.
const (
	StreamRequest    StreamType = 0
	StreamResponse   StreamType = 1
	StreamDownstream StreamType = 2
	StreamUpstream   StreamType = 3
)

// MetricType is a proxy_define_metric type.
type MetricType uint32

// Metric types.
const (
	MetricCounter   MetricType = 0
	MetricGauge     MetricType = 1
	MetricHistogram MetricType = 2
)

// PeerType is the closing peer in proxy_on_done etc. (unused by HTTP).
type PeerType uint32

// Version is a detected ABI version.
type Version int

// ABI versions.
const (
	VersionUnknown Version = iota
	Version010
	Version020
	Version021
)

func (v Version) String() string {
	switch v {
	case Version010:
		return "0.1.0"
	case Version020:
		return "0.2.0"
	case Version021:
		return "0.2.1"
	}
	return "unknown"
}

// Version markers, exported by the guest as functions.
const (
	MarkerV010    = "proxy_abi_version_0_1_0"
	MarkerV020    = "proxy_abi_version_0_2_0"
	MarkerV021    = "proxy_abi_version_0_2_1"
	MarkerHigress = "proxy_abi_version_0_2_100" // Higress: 0.2.1 plus Redis
	MarkerVNext   = "proxy_abi_version_0_x_x"
	markerPrefix  = "proxy_abi_version_"
)

// ErrNoVersion is returned when no known marker is exported.
var ErrNoVersion = errors.New("no proxy-wasm ABI version marker exported (want proxy_abi_version_0_2_1, _0_2_0 or _0_1_0)")

// DetectVersion picks the ABI version from the guest's exports, newest
// first. Higress's 0.2.100 and vNEXT's 0_x_x count as 0.2.1.
func DetectVersion(hasExport func(name string) bool) (Version, error) {
	switch {
	case hasExport(MarkerV021), hasExport(MarkerHigress), hasExport(MarkerVNext):
		return Version021, nil
	case hasExport(MarkerV020):
		return Version020, nil
	case hasExport(MarkerV010):
		return Version010, nil
	}
	return VersionUnknown, ErrNoVersion
}

// Pair is one header map entry.
type Pair struct {
	Key, Value []byte
}

// MapSize returns the encoded size of a map with n pairs whose keys and
// values total dataLen bytes.
func MapSize(n, dataLen int) int { return 4 + 8*n + dataLen + 2*n }

// AppendMap encodes pairs, calling each(i) to get pair i, onto dst:
// u32 count, then u32 key length and u32 value length per pair, then each
// key and value followed by a NUL.
func AppendMap(dst []byte, n int, each func(i int) (k, v []byte)) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(n))
	for i := 0; i < n; i++ {
		k, v := each(i)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(k)))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(v)))
	}
	for i := 0; i < n; i++ {
		k, v := each(i)
		dst = append(dst, k...)
		dst = append(dst, 0)
		dst = append(dst, v...)
		dst = append(dst, 0)
	}
	return dst
}

// EncodePairs encodes pairs (convenience for tests and small maps).
func EncodePairs(pairs []Pair) []byte {
	return AppendMap(nil, len(pairs), func(i int) ([]byte, []byte) { return pairs[i].Key, pairs[i].Value })
}

// ErrBadMap is returned for a malformed encoded map.
var ErrBadMap = errors.New("malformed proxy-wasm map")

// DecodeMap calls fn for every pair in the encoded map b. The slices alias b.
// An empty b is an empty map.
func DecodeMap(b []byte, fn func(k, v []byte)) error {
	if len(b) == 0 {
		return nil
	}
	if len(b) < 4 {
		return ErrBadMap
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n < 0 || n > (len(b)-4)/8 {
		return ErrBadMap
	}
	sizes := b[4 : 4+8*n]
	data := b[4+8*n:]
	for i := 0; i < n; i++ {
		kl := int(binary.LittleEndian.Uint32(sizes[8*i:]))
		vl := int(binary.LittleEndian.Uint32(sizes[8*i+4:]))
		if kl < 0 || vl < 0 || kl+1 > len(data) {
			return ErrBadMap
		}
		k := data[:kl]
		data = data[kl+1:]
		if vl+1 > len(data) {
			return ErrBadMap
		}
		v := data[:vl]
		data = data[vl+1:]
		fn(k, v)
	}
	return nil
}

// DecodePairs decodes b into pairs (copies).
func DecodePairs(b []byte) ([]Pair, error) {
	var out []Pair
	err := DecodeMap(b, func(k, v []byte) {
		out = append(out, Pair{Key: append([]byte(nil), k...), Value: append([]byte(nil), v...)})
	})
	return out, err
}

func itoa(u uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	return string(b[i:])
}

// Heimdall's callback-skip extension (heimdall_callbacks_v1). A guest that
// exports heimdall_callbacks_v1 (no parameters, one i32 result) returns the
// address of a little-endian u32 in its memory: a set of the Skip* bits
// below, each meaning "this HTTP stream callback is a no-op answering
// Continue (true for on_done) for every HTTP context this module has
// created so far". The host reads the word once per stream, right after
// proxy_on_context_create, and does not call the callbacks it names for
// that stream. A guest may clear bits when it creates a context of a new
// kind; it never sets a bit that is not true of every context it created.
// The repo's Go SDK learns the bits from which methods of its
// DefaultHttpContext a plugin leaves alone; other guests do not export the
// function and get every callback.
const (
	SkipRequestHeaders uint32 = 1 << iota
	SkipRequestBody
	SkipRequestTrailers
	SkipResponseHeaders
	SkipResponseBody
	SkipResponseTrailers
	SkipLog
	SkipDone
)
