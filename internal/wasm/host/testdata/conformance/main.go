// Command conformance is the host's ABI conformance test plugin, written
// directly against proxy-wasm 0.2.1 (no SDK). What it does for a request is
// chosen by the request header x-test (comma-separated ops); the plugin
// configuration selects root behaviours ("reject", "tick").
//
// Built by the tests with:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o conformance.wasm .
package main

import (
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
	"unsafe"
)

func main() {}

//go:wasmimport env proxy_log
func proxyLog(level uint32, ptr unsafe.Pointer, size uint32) uint32

//go:wasmimport env proxy_get_header_map_value
func proxyGetHeaderMapValue(t uint32, k unsafe.Pointer, kl uint32, rp *uint32, rs *uint32) uint32

//go:wasmimport env proxy_get_header_map_pairs
func proxyGetHeaderMapPairs(t uint32, rp *uint32, rs *uint32) uint32

//go:wasmimport env proxy_set_header_map_pairs
func proxySetHeaderMapPairs(t uint32, p unsafe.Pointer, s uint32) uint32

//go:wasmimport env proxy_add_header_map_value
func proxyAddHeaderMapValue(t uint32, k unsafe.Pointer, kl uint32, v unsafe.Pointer, vl uint32) uint32

//go:wasmimport env proxy_replace_header_map_value
func proxyReplaceHeaderMapValue(t uint32, k unsafe.Pointer, kl uint32, v unsafe.Pointer, vl uint32) uint32

//go:wasmimport env proxy_remove_header_map_value
func proxyRemoveHeaderMapValue(t uint32, k unsafe.Pointer, kl uint32) uint32

//go:wasmimport env proxy_get_buffer_bytes
func proxyGetBufferBytes(t, start, max uint32, rp *uint32, rs *uint32) uint32

//go:wasmimport env proxy_set_buffer_bytes
func proxySetBufferBytes(t, start, n uint32, p unsafe.Pointer, s uint32) uint32

//go:wasmimport env proxy_call_foreign_function
func proxyCallForeignFunction(name unsafe.Pointer, nameLen uint32, args unsafe.Pointer, argsLen uint32, rp *uint32, rs *uint32) uint32

//go:wasmimport env proxy_get_property
func proxyGetProperty(p unsafe.Pointer, s uint32, rp *uint32, rs *uint32) uint32

//go:wasmimport env proxy_set_property
func proxySetProperty(p unsafe.Pointer, s uint32, v unsafe.Pointer, vl uint32) uint32

//go:wasmimport env proxy_send_local_response
func proxySendLocalResponse(status uint32, d unsafe.Pointer, dl uint32, b unsafe.Pointer, bl uint32, h unsafe.Pointer, hl uint32, grpc int32) uint32

//go:wasmimport env proxy_continue_stream
func proxyContinueStream(t uint32) uint32

//go:wasmimport env proxy_set_effective_context
func proxySetEffectiveContext(id uint32) uint32

//go:wasmimport env proxy_set_tick_period_milliseconds
func proxySetTickPeriod(ms uint32) uint32

//go:wasmimport env proxy_get_current_time_nanoseconds
func proxyGetCurrentTime(t *uint64) uint32

//go:wasmimport env proxy_get_log_level
func proxyGetLogLevel(l *uint32) uint32

//go:wasmimport env proxy_get_shared_data
func proxyGetSharedData(k unsafe.Pointer, kl uint32, rp *uint32, rs *uint32, cas *uint32) uint32

//go:wasmimport env proxy_set_shared_data
func proxySetSharedData(k unsafe.Pointer, kl uint32, v unsafe.Pointer, vl uint32, cas uint32) uint32

//go:wasmimport env proxy_define_metric
func proxyDefineMetric(t uint32, n unsafe.Pointer, nl uint32, id *uint32) uint32

//go:wasmimport env proxy_increment_metric
func proxyIncrementMetric(id uint32, d int64) uint32

//go:wasmimport env proxy_get_metric
func proxyGetMetric(id uint32, v *uint64) uint32

//go:wasmimport env proxy_http_call
func proxyHTTPCall(u unsafe.Pointer, ul uint32, h unsafe.Pointer, hl uint32, b unsafe.Pointer, bl uint32, t unsafe.Pointer, tl uint32, timeout uint32, token *uint32) uint32

//go:wasmimport env proxy_grpc_cancel
func proxyGrpcCancel(token uint32) uint32

//go:wasmexport proxy_abi_version_0_2_1
func abiVersion() {}

// Host-allocated memory is kept reachable until the next top-level callback
// (the plugin copies what it receives right away).
var allocs [][]byte

//go:wasmexport proxy_on_memory_allocate
func onMemoryAllocate(size uint32) uint32 {
	b := make([]byte, size+1)
	allocs = append(allocs, b)
	return uint32(uintptr(unsafe.Pointer(&b[0])))
}

func enter() { allocs = allocs[:0] }

// ---- helpers ----

const (
	mapReq       = 0
	mapReqTrl    = 1
	mapResp      = 2
	mapRespTrl   = 3
	mapCallResp  = 6
	bufReqBody   = 0
	bufRespBody  = 1
	bufCallBody  = 4
	bufPluginCfg = 7
	bufVMCfg     = 6
)

func ptr(s string) unsafe.Pointer {
	if s == "" {
		return nil
	}
	return unsafe.Pointer(unsafe.StringData(s))
}

func bptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

func out(p uint32, n uint32) []byte {
	if p == 0 || n == 0 {
		return nil
	}
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(uintptr(p))), n)...)
}

func logf(level uint32, msg string) { proxyLog(level, ptr(msg), uint32(len(msg))) }

func getHeader(t uint32, k string) (string, uint32) {
	var p uint32
	var n uint32
	st := proxyGetHeaderMapValue(t, ptr(k), uint32(len(k)), &p, &n)
	return string(out(p, n)), st
}

func addHeader(t uint32, k, v string) uint32 {
	return proxyAddHeaderMapValue(t, ptr(k), uint32(len(k)), ptr(v), uint32(len(v)))
}

func replaceHeader(t uint32, k, v string) uint32 {
	return proxyReplaceHeaderMapValue(t, ptr(k), uint32(len(k)), ptr(v), uint32(len(v)))
}

func removeHeader(t uint32, k string) uint32 {
	return proxyRemoveHeaderMapValue(t, ptr(k), uint32(len(k)))
}

func getPairs(t uint32) [][2]string {
	var p uint32
	var n uint32
	if proxyGetHeaderMapPairs(t, &p, &n) != 0 {
		return nil
	}
	b := out(p, n)
	if len(b) < 4 {
		return nil
	}
	cnt := int(binary.LittleEndian.Uint32(b))
	data := b[4+8*cnt:]
	res := make([][2]string, 0, cnt)
	for i := 0; i < cnt; i++ {
		kl := int(binary.LittleEndian.Uint32(b[4+8*i:]))
		vl := int(binary.LittleEndian.Uint32(b[8+8*i:]))
		k := string(data[:kl])
		data = data[kl+1:]
		v := string(data[:vl])
		data = data[vl+1:]
		res = append(res, [2]string{k, v})
	}
	return res
}

func encodePairs(pairs [][2]string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(pairs)))
	for _, p := range pairs {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p[0])))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p[1])))
	}
	for _, p := range pairs {
		b = append(b, p[0]...)
		b = append(b, 0)
		b = append(b, p[1]...)
		b = append(b, 0)
	}
	return b
}

func getBuffer(t, start, max uint32) ([]byte, uint32) {
	var p uint32
	var n uint32
	st := proxyGetBufferBytes(t, start, max, &p, &n)
	return out(p, n), st
}

func setBuffer(t, start, n uint32, data string) uint32 {
	return proxySetBufferBytes(t, start, n, ptr(data), uint32(len(data)))
}

func getProperty(path ...string) (string, uint32) {
	s := strings.Join(path, "\x00")
	var p uint32
	var n uint32
	st := proxyGetProperty(ptr(s), uint32(len(s)), &p, &n)
	return string(out(p, n)), st
}

func setProperty(path, v string) uint32 {
	return proxySetProperty(ptr(path), uint32(len(path)), ptr(v), uint32(len(v)))
}

func localResponse(status uint32, body string, headers [][2]string) uint32 {
	h := encodePairs(headers)
	d := "conformance"
	return proxySendLocalResponse(status, ptr(d), uint32(len(d)), ptr(body), uint32(len(body)), bptr(h), uint32(len(h)), -1)
}

func itoa(n int) string { return strconv.Itoa(n) }

// ---- root context ----

type root struct {
	conf string
	// streams paused waiting for a tick
	waiting []uint32
}

var (
	roots   = map[uint32]*root{}
	streams = map[uint32]*stream{}
	calls   = map[uint32]uint32{} // http_call token -> stream id
)

type stream struct {
	id, root    uint32
	ops         map[string]bool
	reqCalls    []string
	respCalls   []string
	reqTrailers int
}

func (s *stream) has(op string) bool { return s.ops[op] }

//go:wasmexport proxy_on_context_create
func onContextCreate(id, parent uint32) {
	enter()
	if parent == 0 {
		roots[id] = &root{}
		return
	}
	streams[id] = &stream{id: id, root: parent, ops: map[string]bool{}}
}

//go:wasmexport proxy_on_vm_start
func onVMStart(id, size uint32) uint32 {
	enter()
	if size > 0 {
		b, st := getBuffer(bufVMCfg, 0, size)
		logf(2, "conformance: vm_config "+string(b)+" status "+strconv.Itoa(int(st)))
	}
	return 1
}

//go:wasmexport proxy_on_configure
func onConfigure(id, size uint32) uint32 {
	enter()
	b, _ := getBuffer(bufPluginCfg, 0, size)
	r := roots[id]
	r.conf = string(b)
	if strings.Contains(r.conf, "reject") {
		logf(4, "conformance: rejecting configuration")
		return 0
	}
	if strings.Contains(r.conf, "tick") {
		proxySetTickPeriod(10)
	}
	return 1
}

//go:wasmexport proxy_on_tick
func onTick(id uint32) {
	enter()
	r := roots[id]
	w := r.waiting
	r.waiting = nil
	for _, sid := range w {
		s := streams[sid]
		if s == nil || proxySetEffectiveContext(sid) != 0 {
			continue
		}
		if s.has("pauselocal") {
			localResponse(202, "from tick", nil)
			continue
		}
		addHeader(mapReq, "x-resumed", "tick")
		proxyContinueStream(0)
	}
}

//go:wasmexport proxy_on_http_call_response
func onHTTPCallResponse(id, token, nh, bodySize, nt uint32) {
	enter()
	sid, ok := calls[token]
	if !ok {
		return
	}
	delete(calls, token)
	status, _ := getHeader(mapCallResp, ":status")
	body, _ := getBuffer(bufCallBody, 0, bodySize)
	if proxySetEffectiveContext(sid) != 0 {
		return
	}
	addHeader(mapReq, "x-call-status", status)
	addHeader(mapReq, "x-call-body-len", itoa(len(body)))
	addHeader(mapReq, "x-call-headers", itoa(int(nh)))
	if loc, st := getHeader(mapCallResp, "location"); st == 0 {
		addHeader(mapReq, "x-call-location", loc)
	}
	if len(body) > 0 && len(body) <= 512 {
		addHeader(mapReq, "x-call-body", string(body))
	}
	proxyContinueStream(0)
}

// ---- stream callbacks ----

//go:wasmexport proxy_on_request_headers
func onRequestHeaders(id, n, eos uint32) uint32 {
	enter()
	s := streams[id]
	ops, _ := getHeader(mapReq, "x-test")
	for _, op := range strings.Split(ops, ",") {
		if op = strings.TrimSpace(op); op != "" {
			s.ops[op] = true
		}
	}
	addHeader(mapReq, "x-req-eos", itoa(int(eos)))
	addHeader(mapReq, "x-req-count", itoa(int(n)))
	if s.has("log") {
		for _, p := range getPairs(mapReq) {
			logf(2, "#request_header "+itoa(int(id))+" -> "+p[0]+": "+p[1])
		}
	}
	if s.has("addreq") {
		addHeader(mapReq, "x-added", "1")
	}
	if s.has("replacereq") {
		replaceHeader(mapReq, "x-replace", "new")
	}
	if s.has("removereq") {
		removeHeader(mapReq, "x-remove")
	}
	if s.has("path") {
		replaceHeader(mapReq, ":path", "/anything/rewritten?x=1")
	}
	if s.has("pseudo") {
		for _, k := range []string{":method", ":path", ":authority", ":scheme"} {
			v, _ := getHeader(mapReq, k)
			addHeader(mapReq, "x-pseudo"+strings.ReplaceAll(k, ":", "-"), v)
		}
	}
	if s.has("pairs") {
		pairs := getPairs(mapReq)
		pairs = append(pairs, [2]string{"x-pairs", itoa(len(pairs))})
		b := encodePairs(pairs)
		proxySetHeaderMapPairs(mapReq, bptr(b), uint32(len(b)))
	}
	if s.has("missing") {
		_, st := getHeader(mapReq, "x-does-not-exist")
		addHeader(mapReq, "x-missing-status", itoa(int(st)))
	}
	if s.has("props") {
		for _, p := range []string{"request.path", "request.url_path", "request.host", "request.method",
			"request.scheme", "request.protocol", "request.id", "source.address", "destination.address",
			"plugin_name", "plugin_root_id", "route_name", "cluster_name"} {
			v, st := getProperty(strings.Split(p, ".")...)
			addHeader(mapReq, "x-prop-"+strings.ReplaceAll(p, ".", "-"), v+"|"+itoa(int(st)))
		}
		port, _ := getProperty("source", "port")
		if len(port) == 8 {
			addHeader(mapReq, "x-prop-source-port", itoa(int(binary.LittleEndian.Uint64([]byte(port)))))
		}
		_, st := getProperty("no", "such")
		addHeader(mapReq, "x-prop-unknown", itoa(int(st)))
		setProperty("my.prop", "mine")
		v, _ := getProperty("my", "prop")
		addHeader(mapReq, "x-prop-mine", v)
	}
	if s.has("time") {
		var t uint64
		proxyGetCurrentTime(&t)
		addHeader(mapReq, "x-time", itoa(int(t/1e9)))
	}
	if s.has("loglevel") {
		var l uint32
		proxyGetLogLevel(&l)
		addHeader(mapReq, "x-log-level", itoa(int(l)))
	}
	if s.has("shared") {
		k, v := "counter", "1"
		st1 := proxySetSharedData(ptr(k), uint32(len(k)), ptr(v), uint32(len(v)), 0)
		var p uint32
		var n, cas uint32
		st2 := proxyGetSharedData(ptr(k), uint32(len(k)), &p, &n, &cas)
		val := string(out(p, n))
		st3 := proxySetSharedData(ptr(k), uint32(len(k)), ptr(v), uint32(len(v)), cas+100)
		st4 := proxySetSharedData(ptr(k), uint32(len(k)), ptr("2"), 1, cas)
		addHeader(mapReq, "x-shared", strings.Join([]string{itoa(int(st1)), itoa(int(st2)), val, itoa(int(st3)), itoa(int(st4))}, ","))
	}
	if s.has("metrics") {
		name := "conformance_requests"
		var mid uint32
		proxyDefineMetric(0, ptr(name), uint32(len(name)), &mid)
		proxyIncrementMetric(mid, 2)
		var val uint64
		proxyGetMetric(mid, &val)
		addHeader(mapReq, "x-metric", itoa(int(val)))
	}
	if s.has("foreign") {
		call := func(name, args string) ([]byte, uint32) {
			var p, n uint32
			st := proxyCallForeignFunction(ptr(name), uint32(len(name)), ptr(args), uint32(len(args)), &p, &n)
			return out(p, n), st
		}
		in, _ := getHeader(mapReq, "x-ff-in")
		c, st1 := call("compress", in)
		u, st2 := call("uncompress", string(c))
		_, st3 := call("uncompress", "not zlib")
		_, st4 := call("no_such_function", "")
		// SetEnvoyFilterStateArguments{path: "x.ff", value: "v1", span: 1}
		_, st5 := call("set_envoy_filter_state", "\x0a\x04x.ff\x12\x02v1\x18\x01")
		ffv, _ := getProperty("x.ff")
		addHeader(mapReq, "x-ff-state", itoa(int(st5))+","+ffv)
		addHeader(mapReq, "x-ff", itoa(int(st1))+","+itoa(int(st2))+","+itoa(int(st3))+","+itoa(int(st4)))
		addHeader(mapReq, "x-ff-compressed", hex.EncodeToString(c))
		addHeader(mapReq, "x-ff-out", string(u))
	}
	if s.has("unimpl") {
		addHeader(mapReq, "x-unimpl", itoa(int(proxyGrpcCancel(1))))
	}
	if s.has("badptr") {
		a := proxyLog(2, unsafe.Pointer(uintptr(0xfffffff0)), 100)
		b := proxyGetHeaderMapValue(mapReq, ptr("x-test"), 6, (*uint32)(unsafe.Pointer(uintptr(0xfffffff8))), nil)
		c := proxyAddHeaderMapValue(mapReq, unsafe.Pointer(uintptr(0x7ffffff0)), 0x7fffffff, nil, 0)
		d := proxySetBufferBytes(bufReqBody, 0, 0, unsafe.Pointer(uintptr(0xfffffff0)), 64)
		addHeader(mapReq, "x-badptr", itoa(int(a))+","+itoa(int(b))+","+itoa(int(c))+","+itoa(int(d)))
	}
	if s.has("reqbodyprop") {
		setProperty("wasm_process_req_body", "true")
	}
	if s.has("trap") {
		var m map[string]int
		m["boom"] = 1 // nil map write: the Go runtime panics, the instance traps
	}
	if s.has("loop") {
		for i := 0; ; i++ {
			if i < 0 {
				break
			}
		}
	}
	if s.has("oom") {
		var keep [][]byte
		for {
			keep = append(keep, make([]byte, 8<<20))
			keep[len(keep)-1][0] = 1
		}
	}
	if s.has("local") {
		localResponse(403, "denied by plugin", [][2]string{{"x-local", "yes"}, {"content-type", "text/plain"}})
		return 1
	}
	if s.has("pause") || s.has("pauselocal") {
		r := roots[s.root]
		r.waiting = append(r.waiting, id)
		return 1
	}
	if s.has("httpcall") {
		// x-call-path and x-call-authority (empty allowed) replace the
		// defaults; x-call-omit names one pseudo header to leave out.
		up, _ := getHeader(mapReq, "x-call-upstream")
		path, st := getHeader(mapReq, "x-call-path")
		if st != 0 {
			path = "/get"
		}
		authority, st2 := getHeader(mapReq, "x-call-authority")
		if st2 != 0 {
			authority = "example"
		}
		omit, _ := getHeader(mapReq, "x-call-omit")
		var pairs [][2]string
		for _, kv := range [][2]string{{":method", "GET"}, {":path", path}, {":authority", authority}} {
			if kv[0] != omit {
				pairs = append(pairs, kv)
			}
		}
		h := encodePairs(pairs)
		var token uint32
		st = proxyHTTPCall(ptr(up), uint32(len(up)), bptr(h), uint32(len(h)), nil, 0, nil, 0, 2000, &token)
		if st != 0 {
			addHeader(mapReq, "x-call-error", itoa(int(st)))
			return 0
		}
		calls[token] = id
		return 1
	}
	return 0
}

// onBody handles a body chunk for direction req/resp.
func onBody(s *stream, buf uint32, size, eos uint32, calls *[]string) uint32 {
	*calls = append(*calls, itoa(int(size))+":"+itoa(int(eos)))
	p := "req"
	if buf == bufRespBody {
		p = "resp"
	}
	if s.has(p+"buffer") && eos == 0 {
		return 1 // buffer: call again with everything so far
	}
	if s.has(p+"bodylocal") && eos == 1 {
		b, _ := getBuffer(buf, 0, size)
		localResponse(413, "body seen: "+string(b), nil)
		return 1
	}
	if s.has(p + "append") {
		setBuffer(buf, size, 0, "[appended]")
	}
	if s.has(p + "prepend") {
		setBuffer(buf, 0, 0, "[prepended]")
	}
	if s.has(p+"replace") && eos == 1 {
		b, _ := getBuffer(buf, 0, size)
		setBuffer(buf, 0, size, "replaced("+string(b)+")")
	}
	if s.has(p + "upper") {
		b, _ := getBuffer(buf, 0, size)
		setBuffer(buf, 0, size, strings.ToUpper(string(b)))
	}
	return 0
}

//go:wasmexport proxy_on_request_body
func onRequestBody(id, size, eos uint32) uint32 {
	enter()
	s := streams[id]
	return onBody(s, bufReqBody, size, eos, &s.reqCalls)
}

//go:wasmexport proxy_on_request_trailers
func onRequestTrailers(id, n uint32) uint32 {
	enter()
	s := streams[id]
	s.reqTrailers = int(n)
	if s.has("trailers") {
		v, _ := getHeader(mapReqTrl, "x-trailer")
		addHeader(mapReqTrl, "x-trailer-seen", v)
	}
	return 0
}

//go:wasmexport proxy_on_response_headers
func onResponseHeaders(id, n, eos uint32) uint32 {
	enter()
	s := streams[id]
	addHeader(mapResp, "x-resp-eos", itoa(int(eos)))
	addHeader(mapResp, "x-req-body-calls", strings.Join(s.reqCalls, " "))
	if s.has("trailers") {
		addHeader(mapResp, "x-req-trailers", itoa(s.reqTrailers))
	}
	if s.has("addresp") {
		addHeader(mapResp, "x-resp-added", "1")
	}
	if s.has("replaceresp") {
		replaceHeader(mapResp, "x-resp-replace", "new")
	}
	if s.has("removeresp") {
		removeHeader(mapResp, "x-resp-remove")
	}
	if s.has("status") {
		st, _ := getHeader(mapResp, ":status")
		addHeader(mapResp, "x-upstream-status", st)
		replaceHeader(mapResp, ":status", "201")
	}
	if s.has("respprops") {
		v, _ := getProperty("response", "code")
		if len(v) == 8 {
			addHeader(mapResp, "x-prop-response-code", itoa(int(binary.LittleEndian.Uint64([]byte(v)))))
		}
	}
	if s.has("resplocal") {
		localResponse(418, "teapot", nil)
		return 1
	}
	if s.has("resptrap") {
		var m map[string]int
		m["boom"] = 1
	}
	return 0
}

//go:wasmexport proxy_on_response_body
func onResponseBody(id, size, eos uint32) uint32 {
	enter()
	s := streams[id]
	return onBody(s, bufRespBody, size, eos, &s.respCalls)
}

//go:wasmexport proxy_on_response_trailers
func onResponseTrailers(id, n uint32) uint32 {
	enter()
	s := streams[id]
	if s.has("trailers") {
		addHeader(mapRespTrl, "x-resp-trailer", "added")
	}
	return 0
}

//go:wasmexport proxy_on_log
func onLog(id uint32) {
	enter()
	if s := streams[id]; s != nil && s.has("log") {
		logf(2, "on_log "+itoa(int(id))+" resp body calls: "+strings.Join(s.respCalls, " "))
	}
}

//go:wasmexport proxy_on_done
func onDone(id uint32) uint32 {
	enter()
	return 1
}

//go:wasmexport proxy_on_delete
func onDelete(id uint32) {
	enter()
	delete(streams, id)
	delete(roots, id)
}
