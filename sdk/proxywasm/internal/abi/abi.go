// Package abi is the guest side of the proxy-wasm 0.2.1 host-function
// boundary: the Host interface through which the SDK reaches the host, the
// wasip1 implementation of it over //go:wasmimport functions (with the
// allocation arena behind proxy_on_memory_allocate), and the header-map wire
// encoding.
//
// Host methods mirror the ABI functions one to one, with Go slices and
// strings in place of pointer/length pairs and the raw status as result.
// Arguments are only valid during the call (the SDK reuses its encoding
// buffers): a Host copies what it keeps.
// Keeping serialization (maps, property paths) and status mapping above this
// line means a native emulator exercises the same SDK code as the real host.
package abi

import "github.com/heimdallgw/heimdall/sdk/proxywasm/types"

// Host is one proxy-wasm 0.2.1 host, seen from the guest.
//
// Byte slices returned by a Host are only valid until the next host call:
// the wasip1 implementation may return a view of the buffer the host writes
// results into (the Heimdall scratch extension). Keep one with Own or
// String, which copy only in that case (the allocation the host filled
// through proxy_on_memory_allocate, or an emulator's fresh copy, is the
// caller's already).
type Host interface {
	Log(level types.LogLevel, msg string) types.Status
	GetLogLevel() (types.LogLevel, types.Status)
	GetCurrentTimeNanoseconds() (uint64, types.Status)
	SetTickPeriodMilliseconds(period uint32) types.Status
	SetEffectiveContext(contextID uint32) types.Status
	Done() types.Status

	GetBufferBytes(bt types.BufferType, start, maxSize uint32) ([]byte, types.Status)
	GetBufferStatus(bt types.BufferType) (size uint32, flags uint32, st types.Status)
	SetBufferBytes(bt types.BufferType, start, size uint32, value []byte) types.Status

	GetHeaderMapSize(mt types.MapType) (uint32, types.Status)
	GetHeaderMapPairs(mt types.MapType) ([]byte, types.Status)
	SetHeaderMapPairs(mt types.MapType, pairs []byte) types.Status
	GetHeaderMapValue(mt types.MapType, key string) ([]byte, types.Status)
	AddHeaderMapValue(mt types.MapType, key, value string) types.Status
	ReplaceHeaderMapValue(mt types.MapType, key, value string) types.Status
	RemoveHeaderMapValue(mt types.MapType, key string) types.Status

	ContinueStream(st types.StreamType) types.Status
	CloseStream(st types.StreamType) types.Status
	GetStatus() (code uint32, message []byte, st types.Status)
	SendLocalResponse(statusCode uint32, details string, body []byte, headers []byte, grpcStatus int32) types.Status

	HttpCall(upstream string, headers, body, trailers []byte, timeoutMs uint32) (calloutID uint32, st types.Status)

	GetProperty(path []byte) ([]byte, types.Status)
	SetProperty(path, value []byte) types.Status

	GetSharedData(key string) (value []byte, cas uint32, st types.Status)
	SetSharedData(key string, value []byte, cas uint32) types.Status
	RegisterSharedQueue(name string) (uint32, types.Status)
	ResolveSharedQueue(vmID, name string) (uint32, types.Status)
	EnqueueSharedQueue(queueID uint32, value []byte) types.Status
	DequeueSharedQueue(queueID uint32) ([]byte, types.Status)

	DefineMetric(mt types.MetricType, name string) (uint32, types.Status)
	IncrementMetric(metricID uint32, delta int64) types.Status
	RecordMetric(metricID uint32, value uint64) types.Status
	GetMetric(metricID uint32) (uint64, types.Status)

	CallForeignFunction(name string, args []byte) ([]byte, types.Status)

	// Higress's Redis extension (proxy_redis_init, proxy_redis_call).
	RedisInit(upstream, username, password string, timeoutMs uint32) types.Status
	RedisCall(upstream string, query []byte) (calloutID uint32, st types.Status)
}
