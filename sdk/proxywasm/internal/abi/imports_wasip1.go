//go:build wasip1

package abi

import (
	"unsafe"

	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

// The proxy-wasm 0.2.1 host functions the SDK uses, all in import module
// "env". Pointers to guest memory are passed as unsafe.Pointer (lowered to
// i32 by the compiler); results come back through *uint32 out-parameters,
// which point into outs (see there for why not at locals).
//
// Unlike the WASI imports of the standard library these are not
// //go:noescape: with it, escape analysis would let callers hand the host
// pointers to their stack, and a proxy-wasm host calls back into the module
// during a host call (proxy_on_memory_allocate, or a whole callback on
// some hosts). The callback runs on the same goroutine stack; when it grows
// that stack Go moves it, and the host then writes to the old address
// (checked on wazero 1.12: the result is lost). The inputs are heap memory
// anyway, as they reach these functions through the Host interface.

//go:wasmimport env proxy_log
func proxyLog(level uint32, msg unsafe.Pointer, msgLen uint32) uint32

//go:wasmimport env proxy_get_log_level
func proxyGetLogLevel(retLevel *uint32) uint32

//go:wasmimport env proxy_get_current_time_nanoseconds
func proxyGetCurrentTimeNanoseconds(retTime *uint64) uint32

//go:wasmimport env proxy_set_tick_period_milliseconds
func proxySetTickPeriodMilliseconds(period uint32) uint32

//go:wasmimport env proxy_set_effective_context
func proxySetEffectiveContext(contextID uint32) uint32

//go:wasmimport env proxy_done
func proxyDone() uint32

//go:wasmimport env proxy_get_buffer_bytes
func proxyGetBufferBytes(bt, start, maxSize uint32, retPtr, retSize *uint32) uint32

//go:wasmimport env proxy_get_buffer_status
func proxyGetBufferStatus(bt uint32, retSize, retFlags *uint32) uint32

//go:wasmimport env proxy_set_buffer_bytes
func proxySetBufferBytes(bt, start, size uint32, value unsafe.Pointer, valueLen uint32) uint32

//go:wasmimport env proxy_get_header_map_size
func proxyGetHeaderMapSize(mt uint32, retSize *uint32) uint32

//go:wasmimport env proxy_get_header_map_pairs
func proxyGetHeaderMapPairs(mt uint32, retPtr, retSize *uint32) uint32

//go:wasmimport env proxy_set_header_map_pairs
func proxySetHeaderMapPairs(mt uint32, pairs unsafe.Pointer, pairsLen uint32) uint32

//go:wasmimport env proxy_get_header_map_value
func proxyGetHeaderMapValue(mt uint32, key unsafe.Pointer, keyLen uint32, retPtr, retSize *uint32) uint32

//go:wasmimport env proxy_add_header_map_value
func proxyAddHeaderMapValue(mt uint32, key unsafe.Pointer, keyLen uint32, value unsafe.Pointer, valueLen uint32) uint32

//go:wasmimport env proxy_replace_header_map_value
func proxyReplaceHeaderMapValue(mt uint32, key unsafe.Pointer, keyLen uint32, value unsafe.Pointer, valueLen uint32) uint32

//go:wasmimport env proxy_remove_header_map_value
func proxyRemoveHeaderMapValue(mt uint32, key unsafe.Pointer, keyLen uint32) uint32

//go:wasmimport env proxy_continue_stream
func proxyContinueStream(st uint32) uint32

//go:wasmimport env proxy_close_stream
func proxyCloseStream(st uint32) uint32

//go:wasmimport env proxy_get_status
func proxyGetStatus(retCode, retPtr, retSize *uint32) uint32

//go:wasmimport env proxy_send_local_response
func proxySendLocalResponse(statusCode uint32, details unsafe.Pointer, detailsLen uint32, body unsafe.Pointer, bodyLen uint32, headers unsafe.Pointer, headersLen uint32, grpcStatus int32) uint32

//go:wasmimport env proxy_http_call
func proxyHttpCall(upstream unsafe.Pointer, upstreamLen uint32, headers unsafe.Pointer, headersLen uint32, body unsafe.Pointer, bodyLen uint32, trailers unsafe.Pointer, trailersLen uint32, timeout uint32, retCalloutID *uint32) uint32

//go:wasmimport env proxy_get_property
func proxyGetProperty(path unsafe.Pointer, pathLen uint32, retPtr, retSize *uint32) uint32

//go:wasmimport env proxy_set_property
func proxySetProperty(path unsafe.Pointer, pathLen uint32, value unsafe.Pointer, valueLen uint32) uint32

//go:wasmimport env proxy_get_shared_data
func proxyGetSharedData(key unsafe.Pointer, keyLen uint32, retPtr, retSize, retCas *uint32) uint32

//go:wasmimport env proxy_set_shared_data
func proxySetSharedData(key unsafe.Pointer, keyLen uint32, value unsafe.Pointer, valueLen uint32, cas uint32) uint32

//go:wasmimport env proxy_register_shared_queue
func proxyRegisterSharedQueue(name unsafe.Pointer, nameLen uint32, retID *uint32) uint32

//go:wasmimport env proxy_resolve_shared_queue
func proxyResolveSharedQueue(vmID unsafe.Pointer, vmIDLen uint32, name unsafe.Pointer, nameLen uint32, retID *uint32) uint32

//go:wasmimport env proxy_enqueue_shared_queue
func proxyEnqueueSharedQueue(queueID uint32, value unsafe.Pointer, valueLen uint32) uint32

//go:wasmimport env proxy_dequeue_shared_queue
func proxyDequeueSharedQueue(queueID uint32, retPtr, retSize *uint32) uint32

//go:wasmimport env proxy_define_metric
func proxyDefineMetric(mt uint32, name unsafe.Pointer, nameLen uint32, retID *uint32) uint32

//go:wasmimport env proxy_increment_metric
func proxyIncrementMetric(metricID uint32, delta int64) uint32

//go:wasmimport env proxy_record_metric
func proxyRecordMetric(metricID uint32, value uint64) uint32

//go:wasmimport env proxy_get_metric
func proxyGetMetric(metricID uint32, retValue *uint64) uint32

//go:wasmimport env proxy_call_foreign_function
func proxyCallForeignFunction(name unsafe.Pointer, nameLen uint32, args unsafe.Pointer, argsLen uint32, retPtr, retSize *uint32) uint32

// outSet is the out-parameters of one host call.
type outSet struct {
	ptr, size, x uint32
	u64          uint64
}

// outs holds the out-parameters of host calls, one set per callback depth,
// so no host call allocates them (a heap allocation costs ~250 ns in the
// guest, several host calls' worth). They cannot be locals (see above):
// package-level memory never moves. A callback the host runs during a host
// call is one level deeper and gets its own set; proxy_on_memory_allocate
// makes no host calls. Results are copied out right after the call, before
// anything could switch goroutines.
var outs [8]outSet

func out() *outSet {
	if d := mem.depth; d < len(outs) {
		return &outs[d]
	}
	return new(outSet) // deeper still: heap memory does not move either
}

// WasmHost is the Host of a module running under a proxy-wasm host.
type WasmHost struct{}

var _ Host = WasmHost{}

func strPtr(s string) (unsafe.Pointer, uint32) {
	return unsafe.Pointer(unsafe.StringData(s)), uint32(len(s))
}

func bytesPtr(b []byte) (unsafe.Pointer, uint32) {
	return unsafe.Pointer(unsafe.SliceData(b)), uint32(len(b))
}

// result turns a host-filled (pointer, size) pair into a slice, or reports
// an address the guest never allocated as an invalid memory access.
func result(st uint32, ptr, size uint32) ([]byte, types.Status) {
	if st != uint32(types.StatusOK) {
		return nil, types.Status(st)
	}
	b, ok := take(ptr, size)
	if !ok {
		return nil, types.StatusInvalidMemoryAccess
	}
	return b, types.StatusOK
}

func (WasmHost) Log(level types.LogLevel, msg string) types.Status {
	p, n := strPtr(msg)
	return types.Status(proxyLog(uint32(level), p, n))
}

func (WasmHost) GetLogLevel() (types.LogLevel, types.Status) {
	o := out()
	st := proxyGetLogLevel(&o.x)
	return types.LogLevel(o.x), types.Status(st)
}

func (WasmHost) GetCurrentTimeNanoseconds() (uint64, types.Status) {
	o := out()
	st := proxyGetCurrentTimeNanoseconds(&o.u64)
	return o.u64, types.Status(st)
}

func (WasmHost) SetTickPeriodMilliseconds(period uint32) types.Status {
	return types.Status(proxySetTickPeriodMilliseconds(period))
}

func (WasmHost) SetEffectiveContext(contextID uint32) types.Status {
	return types.Status(proxySetEffectiveContext(contextID))
}

func (WasmHost) Done() types.Status { return types.Status(proxyDone()) }

func (WasmHost) GetBufferBytes(bt types.BufferType, start, maxSize uint32) ([]byte, types.Status) {
	o := out()
	st := proxyGetBufferBytes(uint32(bt), start, maxSize, &o.ptr, &o.size)
	return result(st, o.ptr, o.size)
}

func (WasmHost) GetBufferStatus(bt types.BufferType) (uint32, uint32, types.Status) {
	o := out()
	st := proxyGetBufferStatus(uint32(bt), &o.size, &o.x)
	return o.size, o.x, types.Status(st)
}

func (WasmHost) SetBufferBytes(bt types.BufferType, start, size uint32, value []byte) types.Status {
	p, n := bytesPtr(value)
	return types.Status(proxySetBufferBytes(uint32(bt), start, size, p, n))
}

func (WasmHost) GetHeaderMapSize(mt types.MapType) (uint32, types.Status) {
	o := out()
	st := proxyGetHeaderMapSize(uint32(mt), &o.size)
	return o.size, types.Status(st)
}

func (WasmHost) GetHeaderMapPairs(mt types.MapType) ([]byte, types.Status) {
	o := out()
	st := proxyGetHeaderMapPairs(uint32(mt), &o.ptr, &o.size)
	return result(st, o.ptr, o.size)
}

func (WasmHost) SetHeaderMapPairs(mt types.MapType, pairs []byte) types.Status {
	p, n := bytesPtr(pairs)
	return types.Status(proxySetHeaderMapPairs(uint32(mt), p, n))
}

func (WasmHost) GetHeaderMapValue(mt types.MapType, key string) ([]byte, types.Status) {
	o := out()
	kp, kn := strPtr(key)
	st := proxyGetHeaderMapValue(uint32(mt), kp, kn, &o.ptr, &o.size)
	return result(st, o.ptr, o.size)
}

func (WasmHost) AddHeaderMapValue(mt types.MapType, key, value string) types.Status {
	kp, kn := strPtr(key)
	vp, vn := strPtr(value)
	return types.Status(proxyAddHeaderMapValue(uint32(mt), kp, kn, vp, vn))
}

func (WasmHost) ReplaceHeaderMapValue(mt types.MapType, key, value string) types.Status {
	kp, kn := strPtr(key)
	vp, vn := strPtr(value)
	return types.Status(proxyReplaceHeaderMapValue(uint32(mt), kp, kn, vp, vn))
}

func (WasmHost) RemoveHeaderMapValue(mt types.MapType, key string) types.Status {
	kp, kn := strPtr(key)
	return types.Status(proxyRemoveHeaderMapValue(uint32(mt), kp, kn))
}

func (WasmHost) ContinueStream(st types.StreamType) types.Status {
	return types.Status(proxyContinueStream(uint32(st)))
}

func (WasmHost) CloseStream(st types.StreamType) types.Status {
	return types.Status(proxyCloseStream(uint32(st)))
}

func (WasmHost) GetStatus() (uint32, []byte, types.Status) {
	o := out()
	st := proxyGetStatus(&o.x, &o.ptr, &o.size)
	code := o.x
	msg, s := result(st, o.ptr, o.size)
	return code, msg, s
}

func (WasmHost) SendLocalResponse(statusCode uint32, details string, body, headers []byte, grpcStatus int32) types.Status {
	dp, dn := strPtr(details)
	bp, bn := bytesPtr(body)
	hp, hn := bytesPtr(headers)
	return types.Status(proxySendLocalResponse(statusCode, dp, dn, bp, bn, hp, hn, grpcStatus))
}

func (WasmHost) HttpCall(upstream string, headers, body, trailers []byte, timeoutMs uint32) (uint32, types.Status) {
	up, un := strPtr(upstream)
	hp, hn := bytesPtr(headers)
	bp, bn := bytesPtr(body)
	tp, tn := bytesPtr(trailers)
	o := out()
	st := proxyHttpCall(up, un, hp, hn, bp, bn, tp, tn, timeoutMs, &o.x)
	return o.x, types.Status(st)
}

func (WasmHost) GetProperty(path []byte) ([]byte, types.Status) {
	o := out()
	pp, pn := bytesPtr(path)
	st := proxyGetProperty(pp, pn, &o.ptr, &o.size)
	return result(st, o.ptr, o.size)
}

func (WasmHost) SetProperty(path, value []byte) types.Status {
	pp, pn := bytesPtr(path)
	vp, vn := bytesPtr(value)
	return types.Status(proxySetProperty(pp, pn, vp, vn))
}

func (WasmHost) GetSharedData(key string) ([]byte, uint32, types.Status) {
	o := out()
	kp, kn := strPtr(key)
	st := proxyGetSharedData(kp, kn, &o.ptr, &o.size, &o.x)
	cas := o.x
	v, s := result(st, o.ptr, o.size)
	return v, cas, s
}

func (WasmHost) SetSharedData(key string, value []byte, cas uint32) types.Status {
	kp, kn := strPtr(key)
	vp, vn := bytesPtr(value)
	return types.Status(proxySetSharedData(kp, kn, vp, vn, cas))
}

func (WasmHost) RegisterSharedQueue(name string) (uint32, types.Status) {
	o := out()
	np, nn := strPtr(name)
	st := proxyRegisterSharedQueue(np, nn, &o.x)
	return o.x, types.Status(st)
}

func (WasmHost) ResolveSharedQueue(vmID, name string) (uint32, types.Status) {
	o := out()
	vp, vn := strPtr(vmID)
	np, nn := strPtr(name)
	st := proxyResolveSharedQueue(vp, vn, np, nn, &o.x)
	return o.x, types.Status(st)
}

func (WasmHost) EnqueueSharedQueue(queueID uint32, value []byte) types.Status {
	vp, vn := bytesPtr(value)
	return types.Status(proxyEnqueueSharedQueue(queueID, vp, vn))
}

func (WasmHost) DequeueSharedQueue(queueID uint32) ([]byte, types.Status) {
	o := out()
	st := proxyDequeueSharedQueue(queueID, &o.ptr, &o.size)
	return result(st, o.ptr, o.size)
}

func (WasmHost) DefineMetric(mt types.MetricType, name string) (uint32, types.Status) {
	o := out()
	np, nn := strPtr(name)
	st := proxyDefineMetric(uint32(mt), np, nn, &o.x)
	return o.x, types.Status(st)
}

func (WasmHost) IncrementMetric(metricID uint32, delta int64) types.Status {
	return types.Status(proxyIncrementMetric(metricID, delta))
}

func (WasmHost) RecordMetric(metricID uint32, value uint64) types.Status {
	return types.Status(proxyRecordMetric(metricID, value))
}

func (WasmHost) GetMetric(metricID uint32) (uint64, types.Status) {
	o := out()
	st := proxyGetMetric(metricID, &o.u64)
	return o.u64, types.Status(st)
}

func (WasmHost) CallForeignFunction(name string, args []byte) ([]byte, types.Status) {
	o := out()
	np, nn := strPtr(name)
	ap, an := bytesPtr(args)
	st := proxyCallForeignFunction(np, nn, ap, an, &o.ptr, &o.size)
	return result(st, o.ptr, o.size)
}
