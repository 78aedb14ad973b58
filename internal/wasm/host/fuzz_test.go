package host

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/testutil/fuzzseed"
	"github.com/heimdallgw/heimdall/internal/wasm/abi"
	"github.com/heimdallgw/heimdall/internal/wasm/engine"
)

// The fuzz targets here drive the real host functions from a real guest:
// a module assembled by fuzzwasm whose proxy_on_request_headers reads up to
// two calls (function, arguments) from its own memory, makes them through
// its imports and stores the statuses. The test writes the calls into guest
// memory before each request and checks afterwards that the host answered
// with a status (never a trap: a host panic becomes one), changed guest
// memory only where the call allows (its out-pointers and the memory the
// guest allocator handed out), and claimed success only with in-bounds
// pointers.

// fuzzFunc is a host function the fuzz guest can call: its parameters
// (i64 ones are passed the u32 argument zero-extended), which parameters
// are out-pointers (4 bytes written, 8 for out64) and which (ptr, len)
// pairs it reads.
type fuzzFunc struct {
	name   string
	params int
	i64    []int
	out    []int
	out64  []int
	in     [][2]int
}

// fuzzFuncs are the host functions reachable with guest pointers. Those
// that reach the network (proxy_http_call, proxy_redis_*) are left out:
// fuzzed addresses must never be dialled.
var fuzzFuncs = []fuzzFunc{
	{name: "proxy_log", params: 3, in: [][2]int{{1, 2}}},
	{name: "proxy_get_log_level", params: 1, out: []int{0}},
	{name: "proxy_get_current_time_nanoseconds", params: 1, out64: []int{0}},
	{name: "proxy_get_configuration", params: 2, out: []int{0, 1}},
	{name: "proxy_get_buffer_bytes", params: 5, out: []int{3, 4}},
	{name: "proxy_set_buffer_bytes", params: 5, in: [][2]int{{3, 4}}},
	{name: "proxy_get_buffer_status", params: 3, out: []int{1, 2}},
	{name: "proxy_get_header_map_pairs", params: 3, out: []int{1, 2}},
	{name: "proxy_set_header_map_pairs", params: 3, in: [][2]int{{1, 2}}},
	{name: "proxy_get_header_map_value", params: 5, out: []int{3, 4}, in: [][2]int{{1, 2}}},
	{name: "proxy_add_header_map_value", params: 5, in: [][2]int{{1, 2}, {3, 4}}},
	{name: "proxy_replace_header_map_value", params: 5, in: [][2]int{{1, 2}, {3, 4}}},
	{name: "proxy_remove_header_map_value", params: 3, in: [][2]int{{1, 2}}},
	{name: "proxy_get_header_map_size", params: 2, out: []int{1}},
	{name: "proxy_get_property", params: 4, out: []int{2, 3}, in: [][2]int{{0, 1}}},
	{name: "proxy_set_property", params: 4, in: [][2]int{{0, 1}, {2, 3}}},
	{name: "proxy_send_local_response", params: 8, in: [][2]int{{1, 2}, {3, 4}, {5, 6}}},
	{name: "proxy_get_status", params: 3, out: []int{0, 1, 2}},
	{name: "proxy_get_shared_data", params: 5, out: []int{2, 3, 4}, in: [][2]int{{0, 1}}},
	{name: "proxy_set_shared_data", params: 5, in: [][2]int{{0, 1}, {2, 3}}},
	{name: "proxy_register_shared_queue", params: 3, out: []int{2}, in: [][2]int{{0, 1}}},
	{name: "proxy_resolve_shared_queue", params: 5, out: []int{4}, in: [][2]int{{0, 1}, {2, 3}}},
	{name: "proxy_enqueue_shared_queue", params: 3, in: [][2]int{{1, 2}}},
	{name: "proxy_dequeue_shared_queue", params: 3, out: []int{1, 2}},
	{name: "proxy_define_metric", params: 4, out: []int{3}, in: [][2]int{{1, 2}}},
	{name: "proxy_increment_metric", params: 2, i64: []int{1}},
	{name: "proxy_record_metric", params: 2, i64: []int{1}},
	{name: "proxy_get_metric", params: 2, out64: []int{1}},
	{name: "proxy_set_effective_context", params: 1},
	{name: "proxy_set_tick_period_milliseconds", params: 1},
	{name: "proxy_continue_stream", params: 1},
	{name: "proxy_close_stream", params: 1},
	{name: "proxy_call_foreign_function", params: 6},
}

func funcIndex(name string) uint8 {
	for i, f := range fuzzFuncs {
		if f.name == name {
			return uint8(i)
		}
	}
	panic("no fuzz function " + name)
}

// Guest memory layout (one 64 KiB page, no growth).
const (
	memSize    = 1 << 16
	mallocAt   = 0x10 // u32: what the allocator returns
	mallocSum  = 0x14 // u32: bytes asked for so far
	mallocN    = 0x18 // u32: allocations so far
	opBase     = 0x100
	opSize     = 48 // u32 function (0xff: none), 8 u32 arguments, u32 status
	dataAt     = 0x200
	maxData    = 4096
	noFunction = 0xff
)

func guestModule() []byte {
	imports := make([]guestImport, len(fuzzFuncs))
	for i, f := range fuzzFuncs {
		imports[i] = guestImport{name: f.name, params: f.params, i64: f.i64}
	}
	return buildGuest(guestLayout{
		imports: imports, ops: 2, opBase: opBase, opSize: opSize,
		mallocAt: mallocAt, mallocSum: mallocSum, mallocN: mallocN,
	})
}

// fuzzHost is one plugin running the fuzz guest, with a factory.
type fuzzHost struct {
	p *Plugin
	f *Factory
	n int
}

func newFuzzHost(tb testing.TB) *fuzzHost {
	tb.Helper()
	p, err := Load(context.Background(), PluginConfig{
		Name: "fuzz", Wasm: guestModule(), PoolSize: 1, NoCache: true, CallTimeout: 10 * time.Second,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close(context.Background()) })
	f, err := p.NewFactory(context.Background(), "r1", []byte(`{"fuzz":true}`))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	return &fuzzHost{p: p, f: f}
}

// op is one host call the guest makes.
type op struct {
	fn   uint8
	args [8]uint32
}

// result of run: the statuses and guest memory before and after.
type callResult struct {
	status        [2]abi.Status
	before, after []byte
	malloc        uint32 // bytes the host asked the allocator for
	mallocPtr     uint32
	x             *filter.Exchange
}

// fuzzExchange is a browser request, as the proxy hands it to plugins.
func fuzzExchange() *filter.Exchange {
	x := exchange("GET", "/httpbin/get?show_env=1",
		"user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		"accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"accept-language", "en-US,en;q=0.5", "accept-encoding", "gzip, deflate, br, zstd",
		"cookie", "session=8c2f1b; theme=dark", "x-request-id", "7f3c9a1e-2b4d-4e6f-8a9b-0c1d2e3f4a5b")
	x.Upstream = "127.0.0.1:8080"
	return x
}

// run makes ops from the guest during proxy_on_request_headers of a new
// request, with data at dataAt and the allocator returning allocPtr.
func (h *fuzzHost) run(t *testing.T, ops [2]op, allocPtr uint32, data []byte) callResult {
	t.Helper()
	// Shared data and queues outlive requests; keep long runs bounded.
	if h.n++; h.n%512 == 0 {
		h.p.shared = NewShared()
	}
	x := fuzzExchange()
	c, err := filter.NewChain(x, []filter.Factory{h.f}, filter.Options{BufferLimit: 1 << 20, PauseTimeout: time.Second})
	if err != nil {
		t.Fatalf("new stream: %v", err)
	}
	defer c.Done()
	slot := h.p.eng.Slots()[0]
	inst := slot.LockExisting()
	if inst == nil {
		slot.Unlock()
		t.Fatal("no live instance")
	}
	var hdr [opBase + 2*opSize]byte
	binary.LittleEndian.PutUint32(hdr[mallocAt:], allocPtr)
	for k, o := range ops {
		b := hdr[opBase+k*opSize:]
		binary.LittleEndian.PutUint32(b, uint32(o.fn))
		for j, a := range o.args {
			binary.LittleEndian.PutUint32(b[4+4*j:], a)
		}
	}
	if len(data) > maxData {
		data = data[:maxData]
	}
	// Fresh memory for each run: what an earlier run wrote must not hide
	// what this one writes.
	if !inst.Write(0, zeroPage[:]) || !inst.Write(0, hdr[:]) || !inst.Write(dataAt, data) {
		slot.Unlock()
		t.Fatal("writing guest memory")
	}
	before, _ := inst.Read(0, memSize)
	r := callResult{before: bytes.Clone(before), x: x}
	gen := inst.Gen
	slot.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = c.RequestHeaders(ctx, true)

	inst = slot.LockExisting()
	defer slot.Unlock()
	if inst == nil || inst.Gen != gen {
		t.Fatalf("the instance was replaced (a trap or a host panic): %v", err)
	}
	if err != nil && !errorsIsStreamEnd(err) {
		t.Fatalf("request headers: %v", err)
	}
	after, _ := inst.Read(0, memSize)
	r.after = bytes.Clone(after)
	for k := range ops {
		r.status[k] = abi.Status(binary.LittleEndian.Uint32(r.after[opBase+k*opSize+36:]))
	}
	r.malloc = binary.LittleEndian.Uint32(r.after[mallocSum:])
	r.mallocPtr = allocPtr
	// An out-pointer aimed at the allocator's words, or an allocation
	// covering them, overwrites the count: then anything from the
	// allocation on may have been written.
	if allocPtr < mallocN+4 {
		r.malloc = memSize
	}
	for _, o := range ops {
		if int(o.fn) >= len(fuzzFuncs) {
			continue
		}
		f := fuzzFuncs[o.fn]
		for _, i := range append(append([]int(nil), f.out...), f.out64...) {
			if p := o.args[i]; p < mallocN+4 && uint64(p)+8 > mallocAt {
				r.malloc = memSize
			}
		}
	}
	return r
}

// errorsIsStreamEnd: the errors a plugin may legitimately end a stream with.
func errorsIsStreamEnd(err error) bool {
	return err == nil || !isTrap(err)
}

func isTrap(err error) bool {
	var te *engine.TrapError
	for e := err; e != nil; {
		if t, ok := e.(*engine.TrapError); ok {
			te = t
			break
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	return te != nil
}

// checkWrites fails when guest memory changed outside what op may write:
// its status word, its out-pointers and the allocator's bookkeeping and
// the memory it handed out.
func checkWrites(t *testing.T, ops [2]op, r callResult) {
	t.Helper()
	if err := strayWrite(ops, r); err != nil {
		t.Fatal(err)
	}
}

func strayWrite(ops [2]op, r callResult) error {
	allowed := func(off int) bool {
		if off >= mallocAt && off < mallocN+4 {
			return true
		}
		if r.malloc > 0 && uint64(off) >= uint64(r.mallocPtr) && uint64(off) < uint64(r.mallocPtr)+uint64(r.malloc) {
			return true
		}
		for k, o := range ops {
			st := opBase + k*opSize + 36
			if off >= st && off < st+4 {
				return true
			}
			if int(o.fn) >= len(fuzzFuncs) {
				continue
			}
			f := fuzzFuncs[o.fn]
			for _, i := range f.out {
				if p := uint64(o.args[i]); uint64(off) >= p && uint64(off) < p+4 {
					return true
				}
			}
			for _, i := range f.out64 {
				if p := uint64(o.args[i]); uint64(off) >= p && uint64(off) < p+8 {
					return true
				}
			}
		}
		return false
	}
	for off := range r.before {
		if r.before[off] != r.after[off] && !allowed(off) {
			return fmt.Errorf("guest memory at %#x changed (%#x -> %#x) outside the call's out-pointers and allocations; ops %+v, malloc %d at %#x",
				off, r.before[off], r.after[off], ops, r.malloc, r.mallocPtr)
		}
	}
	return nil
}

var zeroPage [memSize]byte

func inBounds(ptr, n uint32) bool { return n == 0 || uint64(ptr)+uint64(n) <= memSize }

func TestFuzzSeeds(t *testing.T) {
	const ua = "user-agent"
	pairs := abi.EncodePairs([]abi.Pair{{Key: []byte(":status"), Value: []byte("403")}, {Key: []byte("content-type"), Value: []byte("text/plain")}})
	d := uint32(dataAt)
	call := func(name, fn string, malloc uint32, data []byte, args ...uint32) fuzzseed.Seed {
		var a [8]uint32
		copy(a[:], args)
		return fuzzseed.New(name, funcIndex(fn), a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], malloc, data)
	}
	fuzzseed.Sync(t, "FuzzHostCall", []fuzzseed.Seed{
		call("get-header", "proxy_get_header_map_value", 0x4000, []byte(ua), 0, d, uint32(len(ua)), 0x40, 0x44),
		call("get-header-oob-out", "proxy_get_header_map_value", 0x4000, []byte(ua), 0, d, uint32(len(ua)), 0xfffffffe, 0x44),
		call("get-pairs", "proxy_get_header_map_pairs", 0x4000, nil, 0, 0x40, 0x44),
		call("get-pairs-alloc-at-end", "proxy_get_header_map_pairs", memSize-16, nil, 0, 0x40, 0x44),
		call("set-pairs", "proxy_set_header_map_pairs", 0, pairs, 0, d, uint32(len(pairs))),
		call("set-pairs-truncated", "proxy_set_header_map_pairs", 0, pairs, 0, d, uint32(len(pairs))-5),
		call("add-header", "proxy_add_header_map_value", 0, []byte("x-addedvalue"), 0, d, 7, d+7, 5),
		call("add-header-huge-len", "proxy_add_header_map_value", 0, []byte("x-added"), 0, 0x7ffffff0, 0x7fffffff, d, 7),
		call("replace-path", "proxy_replace_header_map_value", 0, []byte(":path/rewritten?x=1"), 0, d, 5, d+5, 14),
		call("remove-header", "proxy_remove_header_map_value", 0, []byte("cookie"), 0, d, 6),
		call("log", "proxy_log", 0, []byte("hello from the guest"), 2, d, 20),
		call("log-oob", "proxy_log", 0, nil, 2, 0xfffffff0, 100),
		call("property", "proxy_get_property", 0x4000, []byte("request\x00path"), d, 12, 0x40, 0x44),
		call("set-property", "proxy_set_property", 0, []byte("my\x00propvalue"), d, 7, d+7, 5),
		call("local-response", "proxy_send_local_response", 0, append([]byte("deniedno"), pairs...), 403, d, 6, d+6, 2, d+8, uint32(len(pairs)), 0xffffffff),
		call("shared", "proxy_set_shared_data", 0, []byte("keyvalue"), d, 3, d+3, 5, 0),
		call("get-shared", "proxy_get_shared_data", 0x4000, []byte("key"), d, 3, 0x40, 0x44, 0x48),
		call("queue", "proxy_register_shared_queue", 0, []byte("q"), d, 1, 0x40),
		call("metric", "proxy_define_metric", 0, []byte("requests"), 0, d, 8, 0x40),
		call("time-out-of-bounds", "proxy_get_current_time_nanoseconds", 0, nil, memSize-4),
		call("buffer-bytes", "proxy_get_buffer_bytes", 0x4000, nil, 0, 0, 100, 0x40, 0x44),
		call("set-buffer-oob", "proxy_set_buffer_bytes", 0, nil, 0, 0, 0, 0xfffffff0, 64),
		call("configuration", "proxy_get_buffer_bytes", 0x4000, nil, uint32(abi.BufferPluginConfiguration), 0, 0xffffffff, 0x40, 0x44),
		call("status", "proxy_get_status", 0x4000, nil, 0x40, 0x44, 0x48),
	})
	fuzzseed.Sync(t, "FuzzProperty", []fuzzseed.Seed{
		fuzzseed.New("request-path", []byte("request\x00path"), []byte(nil), false),
		fuzzseed.New("request-header", []byte("request\x00headers\x00user-agent"), []byte(nil), false),
		fuzzseed.New("source-port", []byte("source\x00port"), []byte(nil), false),
		fuzzseed.New("trailing-nul", []byte("plugin_name\x00"), []byte(nil), false),
		fuzzseed.New("dotted", []byte("request.method"), []byte(nil), false),
		fuzzseed.New("set-wasm-body", []byte("wasm_process_req_body"), []byte("true"), true),
		fuzzseed.New("set-shadowing", []byte("request\x00path"), []byte("/shadowed"), true),
		fuzzseed.New("set-empty-value", []byte("my\x00prop"), []byte(nil), true),
		fuzzseed.New("set-nul-only", []byte("\x00\x00"), []byte("v"), true),
	})
}

// FuzzHostCall calls one host function with fuzzed arguments (pointers,
// lengths, map and buffer types, context ids), fuzzed guest data and a
// fuzzed allocator result.
func FuzzHostCall(f *testing.F) {
	h := newFuzzHost(f)
	f.Fuzz(func(t *testing.T, fn uint8, a0, a1, a2, a3, a4, a5, a6, a7, allocPtr uint32, data []byte) {
		fn %= uint8(len(fuzzFuncs))
		o := op{fn: fn, args: [8]uint32{a0, a1, a2, a3, a4, a5, a6, a7}}
		ops := [2]op{o, {fn: noFunction}}
		r := h.run(t, ops, allocPtr, data)
		st := r.status[0]
		if st > abi.StatusUnimplemented {
			t.Fatalf("%s returned %d, not a proxy-wasm status", fuzzFuncs[fn].name, st)
		}
		checkWrites(t, ops, r)
		if st != abi.StatusOK {
			return
		}
		ff := fuzzFuncs[fn]
		for _, i := range ff.out {
			if !inBounds(o.args[i], 4) {
				t.Fatalf("%s returned Ok with out-pointer %d at %#x, outside memory", ff.name, i, o.args[i])
			}
		}
		for _, i := range ff.out64 {
			if !inBounds(o.args[i], 8) {
				t.Fatalf("%s returned Ok with out-pointer %d at %#x, outside memory", ff.name, i, o.args[i])
			}
		}
		for _, pl := range ff.in {
			if !inBounds(o.args[pl[0]], o.args[pl[1]]) {
				t.Fatalf("%s returned Ok reading %d bytes at %#x, outside memory", ff.name, o.args[pl[1]], o.args[pl[0]])
			}
		}
	})
}

// fuzzProps are the attributes of fuzzExchange and their values, as the
// host serializes them (integers 8-byte little-endian).
func fuzzProps() map[string][]byte {
	le := func(n int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(n)) }
	return map[string][]byte{
		"request.path":                    []byte("/httpbin/get?show_env=1"),
		"request.url_path":                []byte("/httpbin/get"),
		"request.query":                   []byte("show_env=1"),
		"request.host":                    []byte("example.com"),
		"request.method":                  []byte("GET"),
		"request.scheme":                  []byte("http"),
		"request.protocol":                []byte("HTTP/1.1"),
		"request.id":                      []byte("req-1"),
		"request.useragent":               []byte("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
		"request.headers.accept-language": []byte("en-US,en;q=0.5"),
		"request.headers.cookie":          []byte("session=8c2f1b; theme=dark"),
		"source.address":                  []byte("192.0.2.1:5555"),
		"source.port":                     le(5555),
		"destination.address":             []byte("127.0.0.1:9080"),
		"destination.port":                le(9080),
		"upstream.address":                []byte("127.0.0.1:8080"),
		"upstream.port":                   le(8080),
		"plugin_name":                     []byte("fuzz"),
		"plugin_root_id":                  []byte("fuzz"),
		"route_id":                        []byte("r1"),
		"cluster_name":                    []byte("u1"),
		"connection.tls":                  {0},
	}
}

// FuzzProperty reads a property path through proxy_get_property (after
// storing a value under it with proxy_set_property when set): known
// attributes read as the exchange holds them, unknown ones are NotFound,
// and a stored value reads back as stored.
func FuzzProperty(f *testing.F) {
	h := newFuzzHost(f)
	props := fuzzProps()
	f.Fuzz(func(t *testing.T, path, value []byte, set bool) {
		if len(path)+len(value) > maxData {
			return
		}
		pl, vl := uint32(len(path)), uint32(len(value))
		data := append(append([]byte(nil), path...), value...)
		get := op{fn: funcIndex("proxy_get_property"), args: [8]uint32{dataAt, pl, 0x40, 0x44}}
		first := op{fn: noFunction}
		if set {
			first = op{fn: funcIndex("proxy_set_property"), args: [8]uint32{dataAt, pl, dataAt + pl, vl}}
		}
		ops := [2]op{first, get}
		r := h.run(t, ops, 0x4000, data)
		checkWrites(t, ops, r)
		name := propertyPath(path)
		if bytes.IndexByte([]byte(name), 0) >= 0 {
			t.Fatalf("property path %q of %q keeps a NUL", name, path)
		}
		var got []byte
		if r.status[1] == abi.StatusOK {
			ptr := binary.LittleEndian.Uint32(r.after[0x40:])
			n := binary.LittleEndian.Uint32(r.after[0x44:])
			if !inBounds(ptr, n) {
				t.Fatalf("value at %#x+%d outside memory", ptr, n)
			}
			got = r.after[ptr : ptr+n]
		}
		if set {
			switch {
			case name == "" && r.status[0] != abi.StatusBadArgument:
				t.Fatalf("set_property of an empty path: %v, want BadArgument", r.status[0])
			case name == "":
			case r.status[0] != abi.StatusOK:
				t.Fatalf("set_property(%q): %v", name, r.status[0])
			case r.status[1] != abi.StatusOK || !bytes.Equal(got, value):
				t.Fatalf("get_property(%q) after set = %q (%v), want %q", name, got, r.status[1], value)
			}
			if v, ok := r.x.Property(name); name != "" && (!ok || !bytes.Equal(v, value)) {
				t.Fatalf("exchange property %q = %q, want %q", name, v, value)
			}
			return
		}
		want, known := props[name]
		switch {
		case known && (r.status[1] != abi.StatusOK || !bytes.Equal(got, want)):
			t.Fatalf("get_property(%q) = %q (%v), want %q", name, got, r.status[1], want)
		case r.status[1] != abi.StatusOK && r.status[1] != abi.StatusNotFound:
			t.Fatalf("get_property(%q): %v, want Ok or NotFound", name, r.status[1])
		}
	})
}

// TestFuzzGuest proves the harness: the guest really makes the calls, the
// checks see their effects, and a write outside the allowed places is
// caught.
func TestFuzzGuest(t *testing.T) {
	h := newFuzzHost(t)
	none := op{fn: noFunction}
	ua := []byte("user-agent")
	get := op{fn: funcIndex("proxy_get_header_map_value"), args: [8]uint32{0, dataAt, uint32(len(ua)), 0x40, 0x44}}
	r := h.run(t, [2]op{get, none}, 0x4000, ua)
	ptr, n := binary.LittleEndian.Uint32(r.after[0x40:]), binary.LittleEndian.Uint32(r.after[0x44:])
	if r.status[0] != abi.StatusOK || ptr != 0x4000 || string(r.after[ptr:ptr+n]) != "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0" {
		t.Fatalf("get_header_map_value: %v, %q at %#x", r.status[0], r.after[ptr:ptr+n], ptr)
	}
	checkWrites(t, [2]op{get, none}, r)

	add := op{fn: funcIndex("proxy_add_header_map_value"), args: [8]uint32{0, dataAt, 7, dataAt + 7, 2}}
	r = h.run(t, [2]op{add, none}, 0, []byte("x-addedok"))
	if v, _ := r.x.Req.Header.Get("x-added"); r.status[0] != abi.StatusOK || string(v) != "ok" {
		t.Fatalf("add_header_map_value: %v, header %q", r.status[0], v)
	}

	bad := get
	bad.args[3] = memSize - 2
	r = h.run(t, [2]op{bad, none}, 0x4000, ua)
	if r.status[0] != abi.StatusInvalidMemoryAccess {
		t.Fatalf("out-pointer past the end: %v, want InvalidMemoryAccess", r.status[0])
	}

	// Had the host written the value somewhere else than the allocation,
	// checkWrites would say so.
	r = h.run(t, [2]op{get, none}, 0x4000, ua)
	r.mallocPtr = 0x5000
	if strayWrite([2]op{get, none}, r) == nil {
		t.Fatal("a write outside the allocation went unnoticed")
	}
}
