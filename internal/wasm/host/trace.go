package host

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/heimdallgw/heimdall/internal/wasm/abi"
	"github.com/heimdallgw/heimdall/internal/wasm/engine"
)

// Tracer receives every host call and callback of a plugin, decoded, when
// PluginConfig.Trace is set (heimdall plugin run --trace). It is called
// with the instance's slot locked, on the goroutine running the guest.
//
// Tracing costs nothing when off: hostFuncs wraps the host functions only
// when a Tracer is configured, so the registered closures are unchanged
// otherwise, and a callback pays one nil check (BenchmarkTraceOff).
type Tracer interface {
	// HostCall reports one env host function call: args and result are
	// decoded (header maps as pairs, buffers quoted, statuses by name).
	HostCall(contextID uint32, name, args string, status abi.Status, result string)
	// SystemCall reports a call of a WASI or socket function (module
	// wasi_snapshot_preview1 or wasi_unstable): raw parameters, and the
	// errno result.
	SystemCall(contextID uint32, module, name string, params, results []uint64)
	// CallbackStart reports a callback into the guest about to run.
	CallbackStart(contextID uint32, name string, args []uint64)
	// Callback reports one callback into the guest and how long it ran;
	// err is the trap, if any.
	Callback(contextID uint32, name string, args []uint64, result uint64, d time.Duration, err error)
}

// TraceQuoteLimit is how many bytes of a buffer or value a trace shows.
const TraceQuoteLimit = 256

func (p *Plugin) traceWrap(name string, params []engine.ValueType, fn hostFunc) func(inst *engine.Instance, stack []uint64) {
	tr := p.cfg.Trace
	return func(inst *engine.Instance, stack []uint64) {
		v := p.vmOf(inst)
		var args [12]uint64
		n := copy(args[:], stack[:len(params)])
		for i, t := range params[:n] {
			if t == engine.I32 {
				args[i] = uint64(uint32(args[i])) // the upper half is not the guest's
			}
		}
		st := fn(v, stack)
		stack[0] = uint64(st)
		var id uint32
		if v.cur != nil {
			id = v.cur.id
		}
		desc, res := v.describe(name, args[:n], st)
		tr.HostCall(id, name, desc, st, res)
	}
}

func mapName(t uint64) string {
	switch abi.MapType(t) {
	case abi.MapHTTPRequestHeaders:
		return "request_headers"
	case abi.MapHTTPRequestTrailers:
		return "request_trailers"
	case abi.MapHTTPResponseHeaders:
		return "response_headers"
	case abi.MapHTTPResponseTrailers:
		return "response_trailers"
	case abi.MapGrpcReceiveInitialMeta:
		return "grpc_initial_metadata"
	case abi.MapGrpcReceiveTrailingMeta:
		return "grpc_trailing_metadata"
	case abi.MapHTTPCallResponseHeaders:
		return "http_call_response_headers"
	case abi.MapHTTPCallResponseTrailers:
		return "http_call_response_trailers"
	}
	return "map(" + strconv.FormatUint(t, 10) + ")"
}

func bufferName(t uint64) string {
	names := [...]string{"request_body", "response_body", "downstream_data", "upstream_data",
		"http_call_response_body", "grpc_receive_buffer", "vm_configuration", "plugin_configuration",
		"call_data", "redis_call_response"}
	if t < uint64(len(names)) {
		return names[t]
	}
	return "buffer(" + strconv.FormatUint(t, 10) + ")"
}

func levelName(l uint64) string {
	names := [...]string{"trace", "debug", "info", "warn", "error", "critical"}
	if l < uint64(len(names)) {
		return names[l]
	}
	return "level(" + strconv.FormatUint(l, 10) + ")"
}

func streamName(t uint64) string {
	names := [...]string{"request", "response", "downstream", "upstream"}
	if t < uint64(len(names)) {
		return names[t]
	}
	return "stream(" + strconv.FormatUint(t, 10) + ")"
}

// quote shows b as a Go string, cut at TraceQuoteLimit.
func quote(b []byte) string {
	if len(b) > TraceQuoteLimit {
		return strconv.Quote(string(b[:TraceQuoteLimit])) + fmt.Sprintf("...(%d bytes)", len(b))
	}
	return strconv.Quote(string(b))
}

func pairs(b []byte) string {
	var sb strings.Builder
	sb.WriteByte('[')
	i := 0
	err := abi.DecodeMap(b, func(k, val []byte) {
		if i > 0 {
			sb.WriteString(", ")
		}
		i++
		sb.WriteString(quote(k))
		sb.WriteString(": ")
		sb.WriteString(quote(val))
	})
	if err != nil {
		return "<malformed map " + quote(b) + ">"
	}
	sb.WriteByte(']')
	return sb.String()
}

// describe decodes the arguments and out-parameters of a host call. Guest
// memory is read after the call, so results written by the host (through
// the guest's allocator or its scratch buffer) are still there.
func (v *vm) describe(name string, a []uint64, st abi.Status) (args, result string) {
	mem := func(ptr, n uint64) []byte {
		b, ok := v.read(ptr, n)
		if !ok {
			return []byte(fmt.Sprintf("<bad pointer %d+%d>", ptr, n))
		}
		return b
	}
	str := func(ptr, n uint64) string { return quote(mem(ptr, n)) }
	// out reads the (ptr, size) a host function wrote to two out-pointers.
	out := func(pp, sp uint64) []byte {
		ptr, ok1 := v.inst.ReadUint32(uint32(pp))
		size, ok2 := v.inst.ReadUint32(uint32(sp))
		if !ok1 || !ok2 {
			return nil
		}
		return mem(uint64(ptr), uint64(size))
	}
	u32 := func(p uint64) string {
		x, ok := v.inst.ReadUint32(uint32(p))
		if !ok {
			return "<bad pointer>"
		}
		return strconv.FormatUint(uint64(x), 10)
	}
	ok := st == abi.StatusOK
	arg := func(i int) uint64 {
		if i < len(a) {
			return a[i]
		}
		return 0
	}
	switch name {
	case "proxy_log":
		return levelName(arg(0)) + ", " + str(arg(1), arg(2)), ""
	case "proxy_get_log_level":
		if ok {
			x, _ := v.inst.ReadUint32(uint32(arg(0)))
			result = levelName(uint64(x))
		}
		return "", result
	case "proxy_get_current_time_nanoseconds":
		if b, good := v.read(arg(0), 8); ok && good {
			result = time.Unix(0, int64(binary.LittleEndian.Uint64(b))).UTC().Format(time.RFC3339Nano)
		}
		return "", result
	case "proxy_set_tick_period_milliseconds":
		return strconv.FormatUint(arg(0), 10) + "ms", ""
	case "proxy_set_effective_context":
		return strconv.FormatUint(arg(0), 10), ""
	case "proxy_get_buffer_bytes":
		if ok {
			result = quote(out(arg(3), arg(4)))
		}
		return fmt.Sprintf("%s, start %d, max %d", bufferName(arg(0)), arg(1), arg(2)), result
	case "proxy_set_buffer_bytes":
		return fmt.Sprintf("%s, start %d, len %d, %s", bufferName(arg(0)), arg(1), arg(2), str(arg(3), arg(4))), ""
	case "proxy_get_buffer_status":
		if ok {
			result = "length " + u32(arg(1))
		}
		return bufferName(arg(0)), result
	case "proxy_get_header_map_pairs":
		if ok {
			result = pairs(out(arg(1), arg(2)))
		}
		return mapName(arg(0)), result
	case "proxy_set_header_map_pairs":
		return mapName(arg(0)) + ", " + pairs(mem(arg(1), arg(2))), ""
	case "proxy_get_header_map_value":
		if ok {
			result = quote(out(arg(3), arg(4)))
		}
		return mapName(arg(0)) + ", " + str(arg(1), arg(2)), result
	case "proxy_add_header_map_value", "proxy_replace_header_map_value":
		return mapName(arg(0)) + ", " + str(arg(1), arg(2)) + ", " + str(arg(3), arg(4)), ""
	case "proxy_remove_header_map_value":
		return mapName(arg(0)) + ", " + str(arg(1), arg(2)), ""
	case "proxy_get_header_map_size":
		if ok {
			result = u32(arg(1))
		}
		return mapName(arg(0)), result
	case "proxy_get_property":
		if ok {
			result = quote(out(arg(2), arg(3)))
		}
		return quote([]byte(strings.ReplaceAll(string(mem(arg(0), arg(1))), "\x00", "."))), result
	case "proxy_set_property":
		return quote([]byte(strings.ReplaceAll(string(mem(arg(0), arg(1))), "\x00", "."))) + ", " + str(arg(2), arg(3)), ""
	case "proxy_send_local_response":
		return fmt.Sprintf("%d, details %s, body %s, headers %s, grpc %d",
			arg(0), str(arg(1), arg(2)), str(arg(3), arg(4)), pairs(mem(arg(5), arg(6))), int32(arg(7))), ""
	case "proxy_continue_stream", "proxy_close_stream":
		return streamName(arg(0)), ""
	case "proxy_http_call":
		if ok {
			result = "token " + u32(arg(9))
		}
		return fmt.Sprintf("%s, headers %s, body %s, trailers %s, timeout %dms",
			str(arg(0), arg(1)), pairs(mem(arg(2), arg(3))), str(arg(4), arg(5)), pairs(mem(arg(6), arg(7))), arg(8)), result
	case "proxy_get_shared_data":
		if ok {
			result = quote(out(arg(2), arg(3))) + ", cas " + u32(arg(4))
		}
		return str(arg(0), arg(1)), result
	case "proxy_set_shared_data":
		return fmt.Sprintf("%s, %s, cas %d", str(arg(0), arg(1)), str(arg(2), arg(3)), arg(4)), ""
	case "proxy_define_metric":
		if ok {
			result = "id " + u32(arg(3))
		}
		return fmt.Sprintf("type %d, %s", arg(0), str(arg(1), arg(2))), result
	case "proxy_get_configuration":
		if ok {
			result = quote(out(arg(0), arg(1)))
		}
		return "", result
	}
	parts := make([]string, len(a))
	for i, x := range a {
		parts[i] = strconv.FormatUint(x, 10)
	}
	return strings.Join(parts, ", "), ""
}

func (v *vm) traceStart(fn engine.Function, c *hctx, args []uint64) time.Time {
	var id uint32
	if c != nil {
		id = c.id
	}
	v.p.cfg.Trace.CallbackStart(id, fn.Name(), args)
	return time.Now()
}

func (v *vm) traceCallback(fn engine.Function, c *hctx, args []uint64, start time.Time, err error) {
	var res uint64
	if err == nil && fn.ResultCount() > 0 {
		res = v.stack[0]
	}
	var id uint32
	if c != nil {
		id = c.id
	}
	v.p.cfg.Trace.Callback(id, fn.Name(), args, res, time.Since(start), err)
}

func (p *Plugin) traceHost(inst *engine.Instance, module, name string, params, results []uint64) {
	var id uint32
	if v, ok := inst.Data.(*vm); ok && v.cur != nil {
		id = v.cur.id
	}
	p.cfg.Trace.SystemCall(id, module, name, params, results)
}
