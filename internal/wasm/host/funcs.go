package host

import (
	"github.com/heimdallgw/heimdall/internal/wasm/abi"
	"github.com/heimdallgw/heimdall/internal/wasm/engine"
)

// hostFunc is a proxy-wasm host function body: it reads its i32/i64
// parameters from s and returns a status.
type hostFunc func(v *vm, s []uint64) abi.Status

// def is one entry of the host function table.
type def struct {
	name   string
	params []engine.ValueType
	fn     hostFunc
}

func i32s(n int) []engine.ValueType {
	out := make([]engine.ValueType, n)
	for i := range out {
		out[i] = engine.I32
	}
	return out
}

var statusResult = []engine.ValueType{engine.I32}

// table lists every env function a proxy-wasm guest may import: all of ABI
// 0.2.1 (the Rust SDK imports them all), the 0.1.0 names, and Higress's.
func table() []def {
	i64 := engine.I64
	return []def{
		// logging, time, timers
		{"proxy_log", i32s(3), hLog},
		{"proxy_get_log_level", i32s(1), hGetLogLevel},
		{"proxy_get_current_time_nanoseconds", i32s(1), hCurrentTime},
		{"proxy_set_tick_period_milliseconds", i32s(1), hSetTickPeriod},
		// context
		{"proxy_set_effective_context", i32s(1), hSetEffectiveContext},
		{"proxy_done", i32s(0), hDone},
		// configuration (0.1.0)
		{"proxy_get_configuration", i32s(2), hGetConfiguration},
		// buffers
		{"proxy_get_buffer_bytes", i32s(5), hGetBufferBytes},
		{"proxy_set_buffer_bytes", i32s(5), hSetBufferBytes},
		{"proxy_get_buffer_status", i32s(3), hGetBufferStatus},
		// header maps
		{"proxy_get_header_map_pairs", i32s(3), hGetHeaderMapPairs},
		{"proxy_set_header_map_pairs", i32s(3), hSetHeaderMapPairs},
		{"proxy_get_header_map_value", i32s(5), hGetHeaderMapValue},
		{"proxy_add_header_map_value", i32s(5), hAddHeaderMapValue},
		{"proxy_replace_header_map_value", i32s(5), hReplaceHeaderMapValue},
		{"proxy_remove_header_map_value", i32s(3), hRemoveHeaderMapValue},
		{"proxy_get_header_map_size", i32s(2), hGetHeaderMapSize},
		// properties
		{"proxy_get_property", i32s(4), hGetProperty},
		{"proxy_set_property", i32s(4), hSetProperty},
		// stream control
		{"proxy_send_local_response", i32s(8), hSendLocalResponse},
		{"proxy_continue_stream", i32s(1), hContinueStream},
		{"proxy_close_stream", i32s(1), hCloseStream},
		{"proxy_continue_request", i32s(0), hContinueRequest},
		{"proxy_continue_response", i32s(0), hContinueResponse},
		{"proxy_clear_route_cache", i32s(0), hClearRouteCache},
		{"proxy_get_status", i32s(3), hGetStatus},
		// outbound calls
		{"proxy_http_call", i32s(10), hHTTPCall},
		{"proxy_grpc_call", i32s(12), unimplemented},
		{"proxy_grpc_stream", i32s(9), unimplemented},
		{"proxy_grpc_send", i32s(4), unimplemented},
		{"proxy_grpc_cancel", i32s(1), unimplemented},
		{"proxy_grpc_close", i32s(1), unimplemented},
		// shared data and queues
		{"proxy_get_shared_data", i32s(5), hGetSharedData},
		{"proxy_set_shared_data", i32s(5), hSetSharedData},
		{"proxy_register_shared_queue", i32s(3), hRegisterSharedQueue},
		{"proxy_resolve_shared_queue", i32s(5), hResolveSharedQueue},
		{"proxy_enqueue_shared_queue", i32s(3), hEnqueueSharedQueue},
		{"proxy_dequeue_shared_queue", i32s(3), hDequeueSharedQueue},
		// metrics
		{"proxy_define_metric", i32s(4), hDefineMetric},
		{"proxy_increment_metric", []engine.ValueType{engine.I32, i64}, hIncrementMetric},
		{"proxy_record_metric", []engine.ValueType{engine.I32, i64}, hRecordMetric},
		{"proxy_get_metric", i32s(2), hGetMetric},
		// foreign functions
		{"proxy_call_foreign_function", i32s(6), hCallForeignFunction},
		// Higress
		{"proxy_redis_init", i32s(7), hRedisInit},
		{"proxy_redis_call", i32s(5), hRedisCall},
	}
}

// FunctionNames lists the env functions the host registers, for the README
// and tests.
func FunctionNames() []string {
	t := table()
	out := make([]string, len(t))
	for i, d := range t {
		out[i] = d.name
	}
	return out
}

func unimplemented(*vm, []uint64) abi.Status { return abi.StatusUnimplemented }

func (p *Plugin) hostFuncs() []engine.HostFunc {
	t := table()
	out := make([]engine.HostFunc, 0, len(t))
	for _, d := range t {
		fn := d.fn
		call := func(inst *engine.Instance, stack []uint64) {
			stack[0] = uint64(fn(p.vmOf(inst), stack))
		}
		if p.cfg.Trace != nil {
			call = p.traceWrap(d.name, d.params, fn)
		}
		out = append(out, engine.HostFunc{
			Module:  engine.ModuleEnv,
			Name:    d.name,
			Params:  d.params,
			Results: statusResult,
			Fn:      call,
		})
	}
	return out
}

// Guest memory helpers. Every pointer from the guest is checked; a bad one
// yields InvalidMemoryAccess, never a host panic.

func (v *vm) read(ptr, n uint64) ([]byte, bool) {
	if n == 0 {
		return nil, true
	}
	return v.inst.Read(uint32(ptr), uint32(n))
}

func (v *vm) readString(ptr, n uint64) (string, bool) {
	b, ok := v.read(ptr, n)
	return string(b), ok
}

func (v *vm) writeU32(ptr uint64, val uint32) bool { return v.inst.WriteUint32(uint32(ptr), val) }

// alloc asks the guest allocator for n bytes.
func (v *vm) alloc(n int) (uint32, abi.Status) {
	if !v.fn.alloc.Valid() {
		return 0, abi.StatusInternalFailure
	}
	v.mstack[0] = uint64(n)
	if err := v.inst.Call(v.fn.alloc, v.mstack[:]); err != nil {
		// The instance is broken; the running callback fails with it.
		return 0, abi.StatusInternalFailure
	}
	ptr := uint32(v.mstack[0])
	if ptr == 0 {
		return 0, abi.StatusInternalFailure
	}
	return ptr, abi.StatusOK
}

// copyOut places data in guest memory (through the guest allocator, or in
// the guest's scratch buffer when it has one and data fits, see
// initScratch) and writes its address and size to ptrPtr and sizePtr. Empty
// data is returned as (0, 0) without allocating, as Envoy does. It must be
// the last thing a host function does: the scratch buffer holds one result.
func (v *vm) copyOut(data []byte, ptrPtr, sizePtr uint64) abi.Status {
	// Check the out-pointers before allocating so that a bad pointer does
	// not leak guest memory.
	if _, ok := v.inst.Read(uint32(ptrPtr), 4); !ok {
		return abi.StatusInvalidMemoryAccess
	}
	if _, ok := v.inst.Read(uint32(sizePtr), 4); !ok {
		return abi.StatusInvalidMemoryAccess
	}
	var ptr uint32
	if len(data) > 0 {
		if len(data) <= int(v.scratchSize) {
			ptr = v.scratchPtr
		} else {
			var st abi.Status
			ptr, st = v.alloc(len(data))
			if st != abi.StatusOK {
				return st
			}
		}
		if !v.inst.Write(ptr, data) {
			return abi.StatusInvalidMemoryAccess
		}
	}
	if !v.writeU32(ptrPtr, ptr) || !v.writeU32(sizePtr, uint32(len(data))) {
		return abi.StatusInvalidMemoryAccess
	}
	return abi.StatusOK
}
