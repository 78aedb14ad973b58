package instrument

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// sec encodes one section.
func sec(id byte, data ...[]byte) []byte {
	d := bytes.Join(data, nil)
	return append(appendU32([]byte{id}, uint32(len(d))), d...)
}

// vec encodes a vector of already encoded items.
func vec(items ...[]byte) []byte {
	return append(appendU32(nil, uint32(len(items))), bytes.Join(items, nil)...)
}

func body(locals []byte, code ...byte) []byte {
	b := append(append([]byte(nil), locals...), code...)
	return append(appendU32(nil, uint32(len(b))), b...)
}

func module(sections ...[]byte) []byte {
	return append([]byte("\x00asm\x01\x00\x00\x00"), bytes.Join(sections, nil)...)
}

// tinyModule has spin (an infinite loop) and nested(n), which counts n*n
// iterations of two nested loops, plus a defined global of its own.
func tinyModule() []byte {
	nested := body(vec([]byte{3, 0x7F}), // 3 i32 locals: i j acc
		0x02, 0x40, // block
		0x03, 0x40, // loop
		0x20, 1, 0x20, 0, 0x4F, 0x0D, 1, // i >= n: br_if 1
		0x41, 0, 0x21, 2, // j = 0
		0x02, 0x40, // block
		0x03, 0x40, // loop
		0x20, 2, 0x20, 0, 0x4F, 0x0D, 1, // j >= n: br_if 1
		0x20, 3, 0x41, 1, 0x6A, 0x21, 3, // acc++
		0x20, 2, 0x41, 1, 0x6A, 0x21, 2, // j++
		0x0C, 0, // br 0
		0x0B, 0x0B,
		0x20, 1, 0x41, 1, 0x6A, 0x21, 1, // i++
		0x0C, 0, // br 0
		0x0B, 0x0B,
		0x20, 3, // acc
		0x0B)
	spin := body(vec(), 0x03, 0x40, 0x0C, 0, 0x0B, 0x0B)
	return module(
		sec(secCustom, []byte{4}, []byte("head"), []byte("x")),
		sec(secType, vec([]byte{0x60, 0, 0}, []byte{0x60, 1, 0x7F, 1, 0x7F})),
		sec(secFunction, vec([]byte{0}, []byte{1})),
		memSec,
		sec(secGlobal, vec([]byte{0x7E, 0x01, 0x42, 0x07, 0x0B})),
		sec(secExport, vec(append(appendName(nil, "spin"), 0, 0), append(appendName(nil, "nested"), 0, 1))),
		sec(secCode, vec(spin, nested)),
		sec(secCustom, []byte{4}, []byte("tail"), []byte("yz")),
	)
}

// checksAfterLoops decodes a module's code and counts its loops and the
// loops directly followed by check.
func checksAfterLoops(t *testing.T, wasm []byte, check []byte) (loops, checked int) {
	t.Helper()
	r := &reader{b: wasm, pos: 8}
	for !r.eof() {
		id, _ := r.byte()
		n, _ := r.u32()
		data, err := r.bytes(int(n))
		if err != nil {
			t.Fatal(err)
		}
		if id != secCode {
			continue
		}
		cr := &reader{b: data}
		nf, _ := cr.u32()
		for i := uint32(0); i < nf; i++ {
			size, _ := cr.u32()
			b, _ := cr.bytes(int(size))
			br := &reader{b: b}
			nl, _ := br.u32()
			for j := uint32(0); j < nl; j++ {
				_, _ = br.u32()
				_ = br.skipValType()
			}
			for !br.eof() {
				op, _ := br.byte()
				switch op {
				case 0x02, 0x04:
					err = br.skipBlockType()
				case 0x03:
					loops++
					err = br.skipBlockType()
					if bytes.HasPrefix(b[br.pos:], check) {
						checked++
					}
				case 0x0B:
				default:
					err = br.skipInstr(op)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return loops, checked
}

func checkBytes(idx uint32) []byte { return Check(idx, idx+1) }

var memSec = sec(secMemory, vec([]byte{0x00, 0x01}))

// exportedGlobalIndex finds the index the module exports name under.
func exportedGlobalIndex(t *testing.T, wasm []byte, name string) uint32 {
	t.Helper()
	r := &reader{b: wasm, pos: 8}
	for !r.eof() {
		id, _ := r.byte()
		n, _ := r.u32()
		data, _ := r.bytes(int(n))
		if id != secExport {
			continue
		}
		er := &reader{b: data}
		ne, _ := er.u32()
		for i := uint32(0); i < ne; i++ {
			l, _ := er.u32()
			s, _ := er.bytes(int(l))
			kind, _ := er.byte()
			idx, _ := er.u32()
			if string(s) == name && kind == 3 {
				return idx
			}
		}
	}
	t.Fatalf("no global exported as %s", name)
	return 0
}

func customSections(t *testing.T, wasm []byte) [][]byte {
	t.Helper()
	var out [][]byte
	r := &reader{b: wasm, pos: 8}
	for !r.eof() {
		id, _ := r.byte()
		n, _ := r.u32()
		data, _ := r.bytes(int(n))
		if id == secCustom {
			out = append(out, data)
		}
	}
	return out
}

func TestTinyModule(t *testing.T) {
	in := tinyModule()
	out, name, err := Instrument(in)
	if err != nil {
		t.Fatal(err)
	}
	if name != AbortGlobal {
		t.Fatalf("name %q", name)
	}
	if idx := exportedGlobalIndex(t, out, name); idx != 1 {
		t.Fatalf("abort global index %d, want 1", idx)
	}
	loops, checked := checksAfterLoops(t, out, checkBytes(1))
	if loops != 3 || checked != 3 {
		t.Fatalf("loops %d, checked %d; want 3, 3", loops, checked)
	}
	if got, want := customSections(t, out), customSections(t, in); len(got) != 2 || !bytes.Equal(got[0], want[0]) || !bytes.Equal(got[1], want[1]) {
		t.Fatalf("custom sections changed: %q", got)
	}

	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	mod, err := rt.Instantiate(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	res, err := mod.ExportedFunction("nested").Call(ctx, 300)
	if err != nil || res[0] != 90000 {
		t.Fatalf("nested(300) = %v, %v", res, err)
	}
	g, ok := mod.ExportedGlobal(name).(api.MutableGlobal)
	if !ok {
		t.Fatal("abort global not exported as mutable")
	}
	if g.Type() != api.ValueTypeI32 || g.Get() != 0 {
		t.Fatalf("abort global %v = %d", g.Type(), g.Get())
	}
	// spin runs forever until the global is set from another goroutine.
	done := make(chan error, 1)
	go func() {
		_, err := mod.ExportedFunction("spin").Call(ctx)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("spin returned early: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	// A garbage collection stops the world: it must not wait forever for
	// the goroutine running the guest (memory.grow is its safepoint).
	gcDone := make(chan struct{})
	go func() {
		runtime.GC()
		close(gcDone)
	}()
	select {
	case <-gcDone:
	case <-time.After(10 * time.Second):
		t.Fatal("runtime.GC blocked by a spinning guest")
	}
	g.Set(1)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("spin: %v, want an unreachable trap", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("spin was not aborted by the global")
	}
	// Once set, any loop traps within SafepointEvery iterations.
	if _, err := mod.ExportedFunction("nested").Call(ctx, 300); err == nil {
		t.Fatal("nested ran with the abort global set")
	}
}

func TestImportedGlobalsAndNoGlobalSection(t *testing.T) {
	// Two imported globals, no global or export section: the new global is
	// index 2 and both sections are created in order.
	imp := func(name string) []byte {
		b := appendName(appendName(nil, "env"), name)
		return append(b, 0x03, 0x7F, 0x00)
	}
	in := module(
		sec(secType, vec([]byte{0x60, 0, 0})),
		sec(secImport, vec(imp("a"), imp("b"), append(appendName(appendName(nil, "env"), "m"), 0x02, 0x00, 0x01))),
		sec(secFunction, vec([]byte{0})),
		sec(secCode, vec(body(vec(), 0x03, 0x40, 0x23, 1, 0x1A, 0x0B, 0x0B))),
	)
	out, name, err := Instrument(in)
	if err != nil {
		t.Fatal(err)
	}
	if idx := exportedGlobalIndex(t, out, name); idx != 2 {
		t.Fatalf("abort global index %d, want 2", idx)
	}
	if loops, checked := checksAfterLoops(t, out, checkBytes(2)); loops != 1 || checked != 1 {
		t.Fatalf("loops %d, checked %d", loops, checked)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	if _, err := rt.CompileModule(ctx, out); err != nil {
		t.Fatalf("instrumented module does not compile: %v", err)
	}
}

func TestNoMemory(t *testing.T) {
	in := module(
		sec(secType, vec([]byte{0x60, 0, 0})),
		sec(secFunction, vec([]byte{0})),
		sec(secCode, vec(body(vec(), 0x03, 0x40, 0x0B, 0x0B))),
	)
	if _, _, err := Instrument(in); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("module without memory: %v, want ErrUnsupported", err)
	}
}

func TestAlreadyInstrumented(t *testing.T) {
	out, _, err := Instrument(tinyModule())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Instrument(out); !errors.Is(err, ErrMalformed) {
		t.Fatalf("instrumenting twice: %v, want an error", err)
	}
}

func TestMalformed(t *testing.T) {
	good := tinyModule()
	cases := map[string][]byte{
		"empty":     nil,
		"magic":     []byte("\x00asn\x01\x00\x00\x00"),
		"version":   []byte("\x00asm\x02\x00\x00\x00"),
		"section":   append([]byte("\x00asm\x01\x00\x00\x00"), 0x01, 0x10, 0x00),
		"unknown":   module(sec(0x20, []byte{0})),
		"order":     module(sec(secCode, vec()), sec(secType, vec())),
		"truncated": good[:len(good)-12],
		"opcode": module(
			sec(secType, vec([]byte{0x60, 0, 0})),
			sec(secFunction, vec([]byte{0})),
			memSec,
			sec(secCode, vec(body(vec(), 0x03, 0x40, 0xFF, 0x0B, 0x0B))),
		),
		"no end": module(
			sec(secType, vec([]byte{0x60, 0, 0})),
			sec(secFunction, vec([]byte{0})),
			memSec,
			sec(secCode, vec(body(vec(), 0x03, 0x40, 0x0B))),
		),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			out, _, err := Instrument(in)
			if err == nil || out != nil {
				t.Fatalf("no error (%d bytes out)", len(out))
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
		})
	}
	// Every truncation of a valid module fails cleanly (or, at a section
	// boundary, succeeds).
	for n := 0; n < len(good); n++ {
		if _, _, err := Instrument(good[:n]); err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("truncated at %d: %v", n, err)
		}
	}
}

// realModules are the Go plugins, the conformance plugin and the
// AssemblyScript one (testdata/asplugin.wasm, built from
// internal/wasm/host/testdata/asplugin by asc -O3).
func realModules(t testing.TB) map[string][]byte {
	t.Helper()
	root, err := wasmbuild.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := filepath.Glob(filepath.Join(root, "plugins", "*", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	pkgs := []string{"internal/wasm/host/testdata/conformance"}
	for _, d := range dirs {
		pkgs = append(pkgs, filepath.Dir(d))
	}
	sort.Strings(pkgs)
	mods := map[string][]byte{}
	for _, p := range pkgs {
		b, err := os.ReadFile(wasmbuild.MustBuild(t, p))
		if err != nil {
			t.Fatal(err)
		}
		mods[filepath.Base(p)] = b
	}
	as, err := os.ReadFile("testdata/asplugin.wasm")
	if err != nil {
		t.Fatal(err)
	}
	mods["asplugin"] = as
	return mods
}

func TestRealModules(t *testing.T) {
	mods := realModules(t)
	if len(mods) < 4 {
		t.Fatalf("only %d modules", len(mods))
	}
	ctx := context.Background()
	for name, in := range mods {
		t.Run(name, func(t *testing.T) {
			out, st, err := InstrumentStats(in)
			if err != nil {
				t.Fatal(err)
			}
			idx := exportedGlobalIndex(t, out, AbortGlobal)
			loopsIn, _ := checksAfterLoops(t, in, checkBytes(idx))
			loopsOut, checked := checksAfterLoops(t, out, checkBytes(idx))
			if loopsIn == 0 || loopsIn != loopsOut || checked != loopsOut || st.Loops != loopsIn {
				t.Fatalf("loops before %d, after %d, checked %d, reported %d", loopsIn, loopsOut, checked, st.Loops)
			}
			ci, co := customSections(t, in), customSections(t, out)
			if len(ci) != len(co) {
				t.Fatalf("custom sections %d -> %d", len(ci), len(co))
			}
			for i := range ci {
				if !bytes.Equal(ci[i], co[i]) {
					t.Fatalf("custom section %d changed", i)
				}
			}
			t.Logf("%d functions, %d loops, %d -> %d bytes", st.Functions, st.Loops, len(in), len(out))

			rt := wazero.NewRuntime(ctx)
			defer rt.Close(ctx)
			cm, err := rt.CompileModule(ctx, out)
			if err != nil {
				t.Fatalf("instrumented module does not compile: %v", err)
			}
			// The original's exports are all still there.
			orig, err := rt.CompileModule(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			for n := range orig.ExportedFunctions() {
				if _, ok := cm.ExportedFunctions()[n]; !ok {
					t.Fatalf("export %s lost", n)
				}
			}
		})
	}
}

func FuzzInstrument(f *testing.F) {
	f.Add(tinyModule())
	as, err := os.ReadFile("testdata/asplugin.wasm")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(as)
	f.Fuzz(func(t *testing.T, in []byte) {
		out, name, err := Instrument(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrUnsupported", err)
			}
			return
		}
		if name != AbortGlobal || len(out) <= len(in) {
			t.Fatalf("bad output: %q, %d -> %d bytes", name, len(in), len(out))
		}
		// The output decodes again (and refuses a second instrumentation
		// only because of the name).
		if _, _, err := Instrument(out); err == nil || !strings.Contains(err.Error(), "already exports") {
			t.Fatalf("re-instrumenting: %v", err)
		}
	})
}
