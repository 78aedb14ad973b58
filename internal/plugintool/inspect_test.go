package plugintool

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
	"github.com/heimdallgw/heimdall/internal/wasm/engine"
	"github.com/heimdallgw/heimdall/internal/wasm/host"
	"github.com/heimdallgw/heimdall/internal/wasm/sockets"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// testCacheDir is the compilation cache of these tests: shared by runs
// (compiling the plugins each time would be slow), out of the user's.
var testCacheDir = filepath.Join(os.TempDir(), "heimdall-plugintool-test-cache")

// testPlugin is a plugin the golden tests cover.
type testPlugin struct {
	name string
	path func(t *testing.T) string
}

func testPlugins(t *testing.T) []testPlugin {
	t.Helper()
	var out []testPlugin
	dirs, err := filepath.Glob("../../plugins/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "main.go")); err != nil {
			continue
		}
		rel := "plugins/" + filepath.Base(d)
		out = append(out, testPlugin{filepath.Base(d), func(t *testing.T) string { return wasmbuild.MustBuild(t, rel) }})
	}
	out = append(out,
		testPlugin{"conformance", func(t *testing.T) string {
			return wasmbuild.MustBuild(t, "internal/wasm/host/testdata/conformance")
		}},
		testPlugin{"asplugin", func(t *testing.T) string {
			return wasmbuild.MustBuildAssemblyScript(t, "internal/wasm/host/testdata/asplugin")
		}})
	return out
}

// volatile are the parts of a report that change with the toolchain or
// any edit of a plugin's code, not with what it links against.
var volatile = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`\d+ bytes`), "N bytes"},
	{regexp.MustCompile(`\(\d+ loops`), "(N loops"},
	{regexp.MustCompile(`initial \d+ pages \(\d+ KiB\)`), "initial N pages"},
	{regexp.MustCompile(`go\d+\.\d+(\.\d+)?`), "goX"},
}

func normalise(s string) string {
	for _, v := range volatile {
		s = v.re.ReplaceAllString(s, v.repl)
	}
	return s
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (go test -update rewrites it):\n%s", path, Diff(string(want), got))
	}
}

func TestInspectGolden(t *testing.T) {
	for _, tp := range testPlugins(t) {
		t.Run(tp.name, func(t *testing.T) {
			file := tp.path(t)
			wasm, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Inspect(context.Background(), tp.name+".wasm", wasm)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			r.WriteText(&buf)
			golden(t, filepath.Join("testdata", "inspect", tp.name+".golden"), normalise(buf.String()))

			// The verdict is the gateway's: Load links the plugin against
			// the same tables (with the socket extension, as the gateway).
			ext, err := sockets.New(context.Background(), sockets.Options{Plugin: tp.name})
			if err != nil {
				t.Fatal(err)
			}
			p, err := host.Load(context.Background(), host.PluginConfig{Name: tp.name, Wasm: wasm, PoolSize: 1, CacheDir: testCacheDir, Extensions: []engine.Extension{ext}}, nil)
			if err != nil {
				t.Fatalf("inspect says loadable=%v, Load: %v", r.Loadable, err)
			}
			p.Close(context.Background())
			if !r.Loadable {
				t.Fatalf("Load succeeds, inspect says: %v", r.Problems)
			}
			var js bytes.Buffer
			if err := r.WriteJSON(&js); err != nil || !json.Valid(js.Bytes()) {
				t.Fatalf("JSON: %v", err)
			}
		})
	}
}

func TestInspectUnknownImport(t *testing.T) {
	wasm := module(
		[]imp{{"env", "proxy_log", 3}, {"env", "proxy_frobnicate", 2}},
		[]string{"proxy_abi_version_0_2_1", "proxy_on_memory_allocate"}, true)
	r, err := Inspect(context.Background(), "x.wasm", wasm)
	if err != nil {
		t.Fatal(err)
	}
	if r.Loadable || len(r.Problems) == 0 || r.Problems[0] != "imports unknown function env.proxy_frobnicate" {
		t.Fatalf("loadable %v problems %q", r.Loadable, r.Problems)
	}
	// And the gateway agrees, naming the same function.
	_, err = host.Load(context.Background(), host.PluginConfig{Name: "x", Wasm: wasm, PoolSize: 1, NoCache: true}, nil)
	if err == nil || !strings.Contains(err.Error(), "env.proxy_frobnicate") {
		t.Fatalf("Load: %v", err)
	}
}

func TestInspectProblems(t *testing.T) {
	tests := []struct {
		name string
		wasm []byte
		want string
	}{
		{"not wasm", []byte("hello, world"), "no \\0asm magic"},
		{"no marker", module([]imp{{"env", "proxy_log", 3}}, []string{"proxy_on_memory_allocate"}, true), "no proxy-wasm ABI version marker"},
		{"no allocator", module(nil, []string{"proxy_abi_version_0_2_1"}, true), "exports neither proxy_on_memory_allocate nor malloc"},
		{"wrong signature", module([]imp{{"env", "proxy_log", 2}}, []string{"proxy_abi_version_0_2_1", "malloc"}, true),
			"imports env.proxy_log with signature (i32, i32) -> (i32); Heimdall has (i32, i32, i32) -> (i32)"},
		{"unknown module", module([]imp{{"wasi_snapshot_preview2", "fd_write", 4}}, []string{"proxy_abi_version_0_2_1", "malloc"}, true),
			"imports unknown function wasi_snapshot_preview2.fd_write"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Inspect(context.Background(), "x.wasm", tt.wasm)
			if err != nil {
				t.Fatal(err)
			}
			if r.Loadable || len(r.Problems) == 0 || !strings.Contains(r.Problems[0], tt.want) {
				t.Fatalf("problems %q, want first to contain %q", r.Problems, tt.want)
			}
		})
	}
}

func TestCompatTable(t *testing.T) {
	rows := compatTable()
	for _, line := range strings.Split(compatTSV, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			t.Errorf("line %q: want 4 tab-separated fields", line)
			continue
		}
		for _, v := range f[1:] {
			switch v {
			case "yes", "unimpl", "nop", "nyi", "absent":
			default:
				t.Errorf("line %q: value %q", line, v)
			}
		}
	}
	// Every function Heimdall registers has a row, so inspect never
	// guesses for a function a plugin can link here.
	for _, f := range host.Functions() {
		if _, ok := rows[f.Name]; !ok {
			t.Errorf("compat.tsv has no row for %s", f.Name)
		}
	}
}

// imp is an imported function with n i32 parameters and an i32 result.
type imp struct {
	module, name string
	params       int
}

// module assembles a minimal module: the imports, a memory, and the
// exports as functions of type () -> () (plus the memory when mem).
func module(imports []imp, exports []string, mem bool) []byte {
	leb := func(b []byte, v uint32) []byte {
		for {
			c := byte(v & 0x7f)
			v >>= 7
			if v != 0 {
				b = append(b, c|0x80)
				continue
			}
			return append(b, c)
		}
	}
	name := func(b []byte, s string) []byte { return append(leb(b, uint32(len(s))), s...) }
	section := func(out []byte, id byte, body []byte) []byte {
		return append(leb(append(out, id), uint32(len(body))), body...)
	}
	out := []byte("\x00asm\x01\x00\x00\x00")
	// Types: 0 = () -> (); 1+i = import i.
	types := leb(nil, uint32(1+len(imports)))
	types = append(types, 0x60, 0, 0)
	for _, im := range imports {
		types = append(types, 0x60)
		types = leb(types, uint32(im.params))
		for i := 0; i < im.params; i++ {
			types = append(types, 0x7f)
		}
		types = append(types, 1, 0x7f)
	}
	out = section(out, 1, types)
	if len(imports) > 0 {
		ib := leb(nil, uint32(len(imports)))
		for i, im := range imports {
			ib = name(ib, im.module)
			ib = name(ib, im.name)
			ib = append(ib, 0)
			ib = leb(ib, uint32(1+i))
		}
		out = section(out, 2, ib)
	}
	fb := leb(nil, uint32(len(exports)))
	for range exports {
		fb = append(fb, 0)
	}
	out = section(out, 3, fb)
	if mem {
		out = section(out, 5, []byte{1, 0, 1})
	}
	eb := leb(nil, uint32(len(exports)+1))
	for i, e := range exports {
		eb = name(eb, e)
		eb = append(eb, 0)
		eb = leb(eb, uint32(len(imports)+i))
	}
	eb = name(eb, "memory")
	eb = append(eb, 2, 0)
	out = section(out, 7, eb)
	cb := leb(nil, uint32(len(exports)))
	for range exports {
		cb = append(cb, 2, 0, 0x0b) // size 2: no locals, end
	}
	return section(out, 10, cb)
}
