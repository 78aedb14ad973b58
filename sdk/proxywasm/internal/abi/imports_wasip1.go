//go:build wasip1

package abi

import (
	"unsafe"

	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

// The proxy-wasm 0.2.1 host functions the SDK uses, all in import module
// "env". Pointers to guest memory are passed as unsafe.Pointer (lowered to
// i32 by the compiler); results come back through *uint32 out-parameters.

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
	var l uint32
	st := proxyGetLogLevel(&l)
	return types.LogLevel(l), types.Status(st)
}

func (WasmHost) GetCurrentTimeNanoseconds() (uint64, types.Status) {
	var t uint64
	st := proxyGetCurrentTimeNanoseconds(&t)
	return t, types.Status(st)
}

func (WasmHost) SetTickPeriodMilliseconds(period uint32) types.Status {
	return types.Status(proxySetTickPeriodMilliseconds(period))
}

func (WasmHost) SetEffectiveContext(contextID uint32) types.Status {
	return types.Status(proxySetEffectiveContext(contextID))
}

func (WasmHost) Done() types.Status { return types.Status(proxyDone()) }

func (WasmHost) GetBufferBytes(bt types.BufferType, start, maxSize uint32) ([]byte, types.Status) {
	var ptr, size uint32
	st := proxyGetBufferBytes(uint32(bt), start, maxSize, &ptr, &size)
	return result(st, ptr, size)
}

func (WasmHost) GetBufferStatus(bt types.BufferType) (uint32, uint32, types.Status) {
	var size, flags uint32
	st := proxyGetBufferStatus(uint32(bt), &size, &flags)
	return size, flags, types.Status(st)
}

func (WasmHost) SetBufferBytes(bt types.BufferType, start, size uint32, value []byte) types.Status {
	p, n := bytesPtr(value)
	return types.Status(proxySetBufferBytes(uint32(bt), start, size, p, n))
}

func (WasmHost) GetHeaderMapSize(mt types.MapType) (uint32, types.Status) {
	var size uint32
	st := proxyGetHeaderMapSize(uint32(mt), &size)
	return size, types.Status(st)
}

func (WasmHost) GetHeaderMapPairs(mt types.MapType) ([]byte, types.Status) {
	var ptr, size uint32
	st := proxyGetHeaderMapPairs(uint32(mt), &ptr, &size)
	return result(st, ptr, size)
}

func (WasmHost) SetHeaderMapPairs(mt types.MapType, pairs []byte) types.Status {
	p, n := bytesPtr(pairs)
	return types.Status(proxySetHeaderMapPairs(uint32(mt), p, n))
}

func (WasmHost) GetHeaderMapValue(mt types.MapType, key string) ([]byte, types.Status) {
	var ptr, size uint32
	kp, kn := strPtr(key)
	st := proxyGetHeaderMapValue(uint32(mt), kp, kn, &ptr, &size)
	return result(st, ptr, size)
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
	var code, ptr, size uint32
	st := proxyGetStatus(&code, &ptr, &size)
	msg, s := result(st, ptr, size)
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
	var id uint32
	st := proxyHttpCall(up, un, hp, hn, bp, bn, tp, tn, timeoutMs, &id)
	return id, types.Status(st)
}

func (WasmHost) GetProperty(path []byte) ([]byte, types.Status) {
	var ptr, size uint32
	pp, pn := bytesPtr(path)
	st := proxyGetProperty(pp, pn, &ptr, &size)
	return result(st, ptr, size)
}

func (WasmHost) SetProperty(path, value []byte) types.Status {
	pp, pn := bytesPtr(path)
	vp, vn := bytesPtr(value)
	return types.Status(proxySetProperty(pp, pn, vp, vn))
}

func (WasmHost) GetSharedData(key string) ([]byte, uint32, types.Status) {
	var ptr, size, cas uint32
	kp, kn := strPtr(key)
	st := proxyGetSharedData(kp, kn, &ptr, &size, &cas)
	v, s := result(st, ptr, size)
	return v, cas, s
}

func (WasmHost) SetSharedData(key string, value []byte, cas uint32) types.Status {
	kp, kn := strPtr(key)
	vp, vn := bytesPtr(value)
	return types.Status(proxySetSharedData(kp, kn, vp, vn, cas))
}

func (WasmHost) RegisterSharedQueue(name string) (uint32, types.Status) {
	var id uint32
	np, nn := strPtr(name)
	st := proxyRegisterSharedQueue(np, nn, &id)
	return id, types.Status(st)
}

func (WasmHost) ResolveSharedQueue(vmID, name string) (uint32, types.Status) {
	var id uint32
	vp, vn := strPtr(vmID)
	np, nn := strPtr(name)
	st := proxyResolveSharedQueue(vp, vn, np, nn, &id)
	return id, types.Status(st)
}

func (WasmHost) EnqueueSharedQueue(queueID uint32, value []byte) types.Status {
	vp, vn := bytesPtr(value)
	return types.Status(proxyEnqueueSharedQueue(queueID, vp, vn))
}

func (WasmHost) DequeueSharedQueue(queueID uint32) ([]byte, types.Status) {
	var ptr, size uint32
	st := proxyDequeueSharedQueue(queueID, &ptr, &size)
	return result(st, ptr, size)
}

func (WasmHost) DefineMetric(mt types.MetricType, name string) (uint32, types.Status) {
	var id uint32
	np, nn := strPtr(name)
	st := proxyDefineMetric(uint32(mt), np, nn, &id)
	return id, types.Status(st)
}

func (WasmHost) IncrementMetric(metricID uint32, delta int64) types.Status {
	return types.Status(proxyIncrementMetric(metricID, delta))
}

func (WasmHost) RecordMetric(metricID uint32, value uint64) types.Status {
	return types.Status(proxyRecordMetric(metricID, value))
}

func (WasmHost) GetMetric(metricID uint32) (uint64, types.Status) {
	var v uint64
	st := proxyGetMetric(metricID, &v)
	return v, types.Status(st)
}

func (WasmHost) CallForeignFunction(name string, args []byte) ([]byte, types.Status) {
	var ptr, size uint32
	np, nn := strPtr(name)
	ap, an := bytesPtr(args)
	st := proxyCallForeignFunction(np, nn, ap, an, &ptr, &size)
	return result(st, ptr, size)
}
