// Package types holds the value types of the proxy-wasm 0.2.1 ABI as seen by
// a Go plugin: actions, log levels, buffer/map/stream identifiers, the status
// codes a host returns and the errors they map to, and the context interfaces
// a plugin implements.
//
// The package has no dependency on the host: it builds both for
// GOOS=wasip1 and natively, so plugin logic can be unit-tested with the
// proxytest emulator.
package types

import "strconv"

// Action is what an HTTP or TCP callback tells the host to do next.
type Action uint32

const (
	// ActionContinue lets the host forward what it has (headers, body chunk,
	// trailers) to the next filter.
	ActionContinue Action = 0
	// ActionPause stops iteration. On a headers callback the stream waits
	// until the plugin resumes it or sends a local response; on a body
	// callback the host keeps buffering and calls again with the whole
	// buffered body until the plugin continues or the stream ends.
	ActionPause Action = 1
)

func (a Action) String() string {
	switch a {
	case ActionContinue:
		return "Continue"
	case ActionPause:
		return "Pause"
	}
	return "Action(" + strconv.FormatUint(uint64(a), 10) + ")"
}

// LogLevel is proxy_log_level_t.
type LogLevel uint32

const (
	LogLevelTrace    LogLevel = 0
	LogLevelDebug    LogLevel = 1
	LogLevelInfo     LogLevel = 2
	LogLevelWarn     LogLevel = 3
	LogLevelError    LogLevel = 4
	LogLevelCritical LogLevel = 5
)

func (l LogLevel) String() string {
	switch l {
	case LogLevelTrace:
		return "trace"
	case LogLevelDebug:
		return "debug"
	case LogLevelInfo:
		return "info"
	case LogLevelWarn:
		return "warn"
	case LogLevelError:
		return "error"
	case LogLevelCritical:
		return "critical"
	}
	return "LogLevel(" + strconv.FormatUint(uint64(l), 10) + ")"
}

// BufferType is proxy_buffer_type_t: which byte buffer a buffer call reads or
// writes.
type BufferType uint32

const (
	BufferTypeHttpRequestBody          BufferType = 0
	BufferTypeHttpResponseBody         BufferType = 1
	BufferTypeDownstreamData           BufferType = 2
	BufferTypeUpstreamData             BufferType = 3
	BufferTypeHttpCallResponseBody     BufferType = 4
	BufferTypeGrpcReceiveBuffer        BufferType = 5
	BufferTypeVMConfiguration          BufferType = 6
	BufferTypePluginConfiguration      BufferType = 7
	BufferTypeForeignFunctionArguments BufferType = 8
	// BufferTypeRedisCallResponse is Higress's extension: the reply to a
	// DispatchRedisCall, during its callback.
	BufferTypeRedisCallResponse BufferType = 9
)

// MapType is proxy_map_type_t: which header map a map call reads or writes.
type MapType uint32

const (
	MapTypeHttpRequestHeaders       MapType = 0
	MapTypeHttpRequestTrailers      MapType = 1
	MapTypeHttpResponseHeaders      MapType = 2
	MapTypeHttpResponseTrailers     MapType = 3
	MapTypeGrpcReceiveInitialMeta   MapType = 4
	MapTypeGrpcReceiveTrailingMeta  MapType = 5
	MapTypeHttpCallResponseHeaders  MapType = 6
	MapTypeHttpCallResponseTrailers MapType = 7
)

// StreamType is proxy_stream_type_t, the argument of proxy_continue_stream
// and proxy_close_stream.
type StreamType uint32

const (
	StreamTypeHttpRequest  StreamType = 0
	StreamTypeHttpResponse StreamType = 1
	StreamTypeDownstream   StreamType = 2
	StreamTypeUpstream     StreamType = 3
)

// PeerType is proxy_peer_type_t: which side closed a TCP connection.
type PeerType uint32

const (
	PeerTypeUnknown PeerType = 0
	PeerTypeLocal   PeerType = 1
	PeerTypeRemote  PeerType = 2
)

// MetricType is proxy_metric_type_t.
type MetricType uint32

const (
	MetricTypeCounter   MetricType = 0
	MetricTypeGauge     MetricType = 1
	MetricTypeHistogram MetricType = 2
)

// OnVMStartStatus is the answer of VMContext.OnVMStart. It is a bool, so
// plain true and false work too.
type OnVMStartStatus = bool

const (
	OnVMStartStatusOK     OnVMStartStatus = true
	OnVMStartStatusFailed OnVMStartStatus = false
)

// OnPluginStartStatus is the answer of PluginContext.OnPluginStart; false
// makes the host reject the plugin configuration.
type OnPluginStartStatus = bool

const (
	OnPluginStartStatusOK     OnPluginStartStatus = true
	OnPluginStartStatusFailed OnPluginStartStatus = false
)
