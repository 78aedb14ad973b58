package plugintool

import (
	"fmt"
	"strings"

	"github.com/heimdallgw/heimdall/internal/wasm/inspect"
)

// producers decodes the "producers" custom section (tool-conventions
// ProducersSection.md): fields (language, processed-by, sdk), each a list
// of name + version. Malformed content yields what was read so far.
func producers(data []byte) map[string][]string {
	out := map[string][]string{}
	pos := 0
	u32 := func() (uint32, bool) {
		var v uint32
		for shift := uint(0); shift < 35; shift += 7 {
			if pos >= len(data) {
				return 0, false
			}
			c := data[pos]
			pos++
			v |= uint32(c&0x7f) << shift
			if c&0x80 == 0 {
				return v, true
			}
		}
		return 0, false
	}
	str := func() (string, bool) {
		n, ok := u32()
		if !ok || int(n) > len(data)-pos {
			return "", false
		}
		s := string(data[pos : pos+int(n)])
		pos += int(n)
		return s, true
	}
	nf, ok := u32()
	if !ok {
		return out
	}
	for i := uint32(0); i < nf; i++ {
		field, ok := str()
		if !ok {
			return out
		}
		nv, ok := u32()
		if !ok {
			return out
		}
		for j := uint32(0); j < nv; j++ {
			name, ok1 := str()
			ver, ok2 := str()
			if !ok1 || !ok2 {
				return out
			}
			out[field] = append(out[field], strings.TrimSpace(name+" "+ver))
		}
	}
	return out
}

// guessSDK names the toolchain and SDK from the module's shape. Each rule
// says what it saw; the first language rule that matches wins.
func guessSDK(m *inspect.Module) SDKGuess {
	var ev []string
	prod := map[string][]string{}
	if c, ok := m.CustomSection("producers"); ok {
		prod = producers(c.Data)
		for _, f := range []string{"language", "processed-by", "sdk"} {
			if len(prod[f]) > 0 {
				ev = append(ev, fmt.Sprintf("producers %s: %s", f, strings.Join(prod[f], ", ")))
			}
		}
	}
	has := func(field, sub string) bool {
		for _, v := range prod[field] {
			if strings.Contains(strings.ToLower(v), strings.ToLower(sub)) {
				return true
			}
		}
		return false
	}
	exported := func(names ...string) []string {
		var out []string
		for _, n := range names {
			if m.HasFuncExport(n) {
				out = append(out, n)
			}
		}
		return out
	}
	imports := map[string]int{}
	envProxy := 0
	for _, im := range m.FuncImports() {
		imports[im.Module]++
		if im.Module == "env" && strings.HasPrefix(im.Name, "proxy_") {
			envProxy++
		}
	}
	_, goBuildID := m.CustomSection("go:buildid")
	switch {
	case goBuildID || has("language", "Go") && !has("processed-by", "TinyGo"):
		if goBuildID {
			ev = append(ev, "custom section go:buildid (the gc toolchain, GOOS=wasip1)")
		}
		if x := exported("heimdall_callbacks_v1", "heimdall_scratch_v1"); len(x) > 0 {
			ev = append(ev, "exports "+strings.Join(x, ", ")+" (Heimdall's SDK extensions)")
			return SDKGuess{Name: "Go (gc, wasip1) with Heimdall's SDK (sdk/proxywasm)", Evidence: ev}
		}
		if envProxy > 0 && m.HasFuncExport("proxy_on_memory_allocate") {
			ev = append(ev, "no heimdall_* exports: not built with sdk/proxywasm")
			return SDKGuess{Name: "Go (gc, wasip1), another SDK (upstream proxy-wasm-go-sdk, or raw ABI)", Evidence: ev}
		}
		return SDKGuess{Name: "Go (gc, wasip1)", Evidence: ev}
	case has("processed-by", "TinyGo") || len(exported("asyncify_start_unwind", "go_scheduler")) > 0:
		if x := exported("asyncify_start_unwind", "go_scheduler"); len(x) > 0 {
			ev = append(ev, "exports "+strings.Join(x, ", ")+" (TinyGo runtime)")
		}
		return SDKGuess{Name: "TinyGo (upstream proxy-wasm-go-sdk)", Evidence: ev}
	case has("language", "Rust") || has("processed-by", "rustc"):
		if envProxy >= 30 {
			ev = append(ev, fmt.Sprintf("imports %d env.proxy_* functions (the proxy-wasm Rust SDK imports all of them)", envProxy))
		}
		return SDKGuess{Name: "Rust (proxy-wasm Rust SDK)", Evidence: ev}
	case len(exported("__new", "__pin", "__unpin", "__collect", "__alloc", "__retain", "__release")) > 0 || imports["wasi_unstable"] > 0 && m.HasFuncExport("malloc"):
		if x := exported("__new", "__pin", "__unpin", "__collect", "__alloc", "__retain", "__release"); len(x) > 0 {
			ev = append(ev, "exports "+strings.Join(x, ", ")+" (AssemblyScript runtime)")
		}
		if imports["wasi_unstable"] > 0 {
			ev = append(ev, "imports from wasi_unstable (@solo-io/proxy-runtime)")
		}
		if m.HasFuncExport("malloc") && !m.HasFuncExport("proxy_on_memory_allocate") {
			ev = append(ev, "exports malloc, not proxy_on_memory_allocate")
		}
		if m.HasStart {
			ev = append(ev, "a start section (no _initialize)")
		}
		return SDKGuess{Name: "AssemblyScript (@solo-io/proxy-runtime)", Evidence: ev}
	case has("language", "C++") || has("processed-by", "clang") || len(exported("stackAlloc", "emscripten_stack_init", "_emscripten_stack_restore")) > 0:
		if x := exported("stackAlloc", "emscripten_stack_init", "_emscripten_stack_restore"); len(x) > 0 {
			ev = append(ev, "exports "+strings.Join(x, ", ")+" (Emscripten)")
		}
		return SDKGuess{Name: "C++ (proxy-wasm-cpp-sdk, Emscripten/clang)", Evidence: ev}
	}
	ev = append(ev, "no producers section, no toolchain-specific exports")
	return SDKGuess{Name: "unknown", Evidence: ev}
}
