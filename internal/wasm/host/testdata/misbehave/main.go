// Command misbehave is the host's failure test plugin, written directly
// against proxy-wasm 0.2.1 (no SDK, so nothing between the host and the
// failure). It fails on demand, in the callback and the way asked for:
//
//   - per request, by the request header x-fail: a comma-separated list of
//     callback=how, callback one of request_headers, request_body,
//     response_headers, response_body, log, done, http_call (the answer of
//     a call to upstream "1" made from request_headers);
//   - for every request, by the same list as the plugin configuration;
//   - at start-up: configuration configure=how, tick=how (a 10 ms tick
//     that fails), and a plugin named with "vm_start" fails in
//     proxy_on_vm_start.
//
// how is one of: trap (a Go panic: the runtime exits the module), loop
// (never returns), oom (allocates until memory.grow is refused), oob
// (passes out-of-bounds pointers to host functions, then goes on and adds
// request header x-oob-status with the statuses it got), biglog (logs a
// 1 MiB line), grow (keeps 24 MiB allocated until the stream ends, then
// goes on: the instance's memory has grown), ok (nothing: for http_call,
// a call that succeeds).
//
// Built by the tests with:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o misbehave.wasm .
package main

import (
	"strconv"
	"strings"
	"unsafe"
)

func main() {}

//go:wasmimport env proxy_log
func proxyLog(level uint32, ptr unsafe.Pointer, size uint32) uint32

//go:wasmimport env proxy_get_header_map_value
func proxyGetHeaderMapValue(t uint32, k unsafe.Pointer, kl uint32, rp *uint32, rs *uint32) uint32

//go:wasmimport env proxy_add_header_map_value
func proxyAddHeaderMapValue(t uint32, k unsafe.Pointer, kl uint32, v unsafe.Pointer, vl uint32) uint32

//go:wasmimport env proxy_get_buffer_bytes
func proxyGetBufferBytes(t, start, max uint32, rp *uint32, rs *uint32) uint32

//go:wasmimport env proxy_get_property
func proxyGetProperty(p unsafe.Pointer, s uint32, rp *uint32, rs *uint32) uint32

//go:wasmimport env proxy_set_tick_period_milliseconds
func proxySetTickPeriod(ms uint32) uint32

//go:wasmimport env proxy_set_effective_context
func proxySetEffectiveContext(id uint32) uint32

//go:wasmimport env proxy_continue_stream
func proxyContinueStream(t uint32) uint32

//go:wasmimport env proxy_http_call
func proxyHTTPCall(u unsafe.Pointer, ul uint32, h unsafe.Pointer, hl uint32, b unsafe.Pointer, bl uint32, t unsafe.Pointer, tl uint32, timeout uint32, token *uint32) uint32

//go:wasmexport proxy_abi_version_0_2_1
func abiVersion() {}

var allocs [][]byte

//go:wasmexport proxy_on_memory_allocate
func onMemoryAllocate(size uint32) uint32 {
	b := make([]byte, size+1)
	allocs = append(allocs, b)
	return uint32(uintptr(unsafe.Pointer(&b[0])))
}

func enter() { allocs = allocs[:0] }

func ptr(s string) unsafe.Pointer {
	if s == "" {
		return nil
	}
	return unsafe.Pointer(unsafe.StringData(s))
}

func out(p, n uint32) string {
	if p == 0 || n == 0 {
		return ""
	}
	return string(unsafe.Slice((*byte)(unsafe.Pointer(uintptr(p))), n))
}

func logf(msg string) { proxyLog(2, ptr(msg), uint32(len(msg))) }

func property(name string) string {
	var p, n uint32
	if proxyGetProperty(ptr(name), uint32(len(name)), &p, &n) != 0 {
		return ""
	}
	return out(p, n)
}

// specs maps a callback name to how it fails.
type specs map[string]string

func parse(s string) specs {
	m := specs{}
	for _, f := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
		if ok {
			m[k] = v
		}
	}
	return m
}

var (
	rootSpecs = specs{}
	streams   = map[uint32]specs{}
	calls     = map[uint32]uint32{} // http_call token -> stream context
	held      = map[uint32][]byte{} // grow: memory held by a stream
)

// misbehave fails as how says, for context id.
func misbehave(id uint32, where, how string) {
	switch how {
	case "trap":
		panic("misbehave: trap in " + where)
	case "loop":
		for i := uint64(0); ; i++ {
			if i == 1<<63 { // never: keeps the loop from being optimized away
				logf("unreachable")
			}
		}
	case "oom":
		var hoard [][]byte
		for {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			hoard = append(hoard, b)
		}
	case "oob":
		var p, n uint32
		bad := unsafe.Pointer(uintptr(0xFFFFFF00))
		s1 := proxyLog(2, bad, 4096)
		k := ":path"
		s2 := proxyGetHeaderMapValue(0, ptr(k), uint32(len(k)), (*uint32)(bad), &n)
		s3 := proxyGetHeaderMapValue(0, bad, 1<<30, &p, &n)
		v := strconv.Itoa(int(s1)) + "," + strconv.Itoa(int(s2)) + "," + strconv.Itoa(int(s3))
		h := "x-oob-status"
		proxyAddHeaderMapValue(0, ptr(h), uint32(len(h)), ptr(v), uint32(len(v)))
	case "biglog":
		logf("biglog:" + strings.Repeat("A", 1<<20))
	case "grow":
		b := make([]byte, 24<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		held[id] = b
	}
}

func fail(id uint32, where string) {
	if how, ok := streams[id][where]; ok {
		misbehave(id, where, how)
	}
}

//go:wasmexport proxy_on_context_create
func onContextCreate(id, root uint32) {
	enter()
	if root == 0 {
		return
	}
	streams[id] = rootSpecs
}

//go:wasmexport proxy_on_vm_start
func onVMStart(root, size uint32) uint32 {
	enter()
	if strings.Contains(property("plugin_name"), "vm_start") {
		misbehave(root, "vm_start", "trap")
	}
	return 1
}

//go:wasmexport proxy_on_configure
func onConfigure(root, size uint32) uint32 {
	enter()
	var p, n uint32
	conf := ""
	if size > 0 && proxyGetBufferBytes(7, 0, size, &p, &n) == 0 {
		conf = out(p, n)
	}
	rootSpecs = parse(conf)
	if how, ok := rootSpecs["configure"]; ok {
		misbehave(root, "configure", how)
	}
	if _, ok := rootSpecs["tick"]; ok {
		proxySetTickPeriod(10)
	}
	return 1
}

//go:wasmexport proxy_on_tick
func onTick(root uint32) {
	enter()
	if how, ok := rootSpecs["tick"]; ok {
		misbehave(root, "tick", how)
	}
}

//go:wasmexport proxy_on_request_headers
func onRequestHeaders(id, n, eos uint32) uint32 {
	enter()
	var p, l uint32
	k := "x-fail"
	if proxyGetHeaderMapValue(0, ptr(k), uint32(len(k)), &p, &l) == 0 {
		m := specs{}
		for k, v := range rootSpecs {
			m[k] = v
		}
		for k, v := range parse(out(p, l)) {
			m[k] = v
		}
		streams[id] = m
	}
	fail(id, "request_headers")
	if _, ok := streams[id]["http_call"]; ok {
		hdrs := encodePairs([][2]string{{":method", "GET"}, {":path", "/get"}, {":authority", "misbehave"}})
		up := "1"
		var token uint32
		if proxyHTTPCall(ptr(up), 1, unsafe.Pointer(&hdrs[0]), uint32(len(hdrs)), nil, 0, nil, 0, 5000, &token) == 0 {
			calls[token] = id
			return 1 // Pause until the answer
		}
		logf("misbehave: http_call refused")
	}
	return 0
}

//go:wasmexport proxy_on_http_call_response
func onHTTPCallResponse(root, token, nh, nb, nt uint32) {
	enter()
	id, ok := calls[token]
	if !ok {
		return
	}
	delete(calls, token)
	proxySetEffectiveContext(id)
	fail(id, "http_call")
	proxyContinueStream(0)
}

//go:wasmexport proxy_on_request_body
func onRequestBody(id, n, eos uint32) uint32 {
	enter()
	fail(id, "request_body")
	return 0
}

//go:wasmexport proxy_on_response_headers
func onResponseHeaders(id, n, eos uint32) uint32 {
	enter()
	fail(id, "response_headers")
	return 0
}

//go:wasmexport proxy_on_response_body
func onResponseBody(id, n, eos uint32) uint32 {
	enter()
	fail(id, "response_body")
	return 0
}

//go:wasmexport proxy_on_log
func onLog(id uint32) {
	enter()
	fail(id, "log")
}

//go:wasmexport proxy_on_done
func onDone(id uint32) uint32 {
	enter()
	fail(id, "done")
	return 1
}

//go:wasmexport proxy_on_delete
func onDelete(id uint32) {
	enter()
	delete(streams, id)
	delete(held, id)
}

func encodePairs(pairs [][2]string) []byte {
	var b []byte
	le := func(v int) { b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24)) }
	le(len(pairs))
	for _, p := range pairs {
		le(len(p[0]))
		le(len(p[1]))
	}
	for _, p := range pairs {
		b = append(b, p[0]...)
		b = append(b, 0)
		b = append(b, p[1]...)
		b = append(b, 0)
	}
	return b
}
