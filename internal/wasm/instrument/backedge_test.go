package instrument

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Hand-assembled functions, all of type 1 ([i32] -> [i32]), for the
// placement of the checks: locals 0 = n (the parameter), 1 = i, 2 = j,
// 3 = acc.

func inc(l byte) []byte { return []byte{0x20, l, 0x41, 1, 0x6A, 0x21, l} } // l++

func code(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func rep(b []byte, n int) []byte { return bytes.Repeat(b, n) }

// lessN is i < n.
var lessN = []byte{0x20, 1, 0x20, 0, 0x49}

type handFunc struct {
	name string
	code []byte
	want func(n uint32) uint32 // nil: spins forever
}

var handFuncs = []handFunc{
	{"brif_void", code( // do { acc++; i++ } while (i < n): br_if to a void loop
		[]byte{0x03, 0x40}, inc(3), inc(1), lessN, []byte{0x0D, 0, 0x0B},
		[]byte{0x20, 3}), func(n uint32) uint32 { return max(n, 1) }},
	{"brif_operand", code( // the same with an operand below the br_if, in a loop (result i32)
		[]byte{0x03, 0x7F, 0x41, 0xE8, 0x07}, inc(3), inc(1), lessN, []byte{0x0D, 0, 0x0B},
		[]byte{0x20, 3, 0x6A}), func(n uint32) uint32 { return 1000 + max(n, 1) }},
	{"brif_params", code( // br_if to a loop (type 1) that takes its counter as a parameter
		[]byte{0x20, 0, 0x03, 0x01}, inc(3),
		[]byte{0x41, 1, 0x6B, 0x22, 1, 0x20, 1, 0x0D, 0, 0x0B},
		[]byte{0x1A, 0x20, 3}), func(n uint32) uint32 { return n }},
	{"br_params", code( // br (not br_if) to a loop with a parameter
		[]byte{0x02, 0x7F, 0x20, 0, 0x03, 0x01}, inc(3),
		[]byte{0x41, 1, 0x6B, 0x22, 1, 0x20, 1, 0x45, 0x0D, 1, 0x0C, 0, 0x0B, 0x0B},
		[]byte{0x1A, 0x20, 3}), func(n uint32) uint32 { return n }},
	{"br_table", code( // br_table [1] 0: i < n continues the loop, else leaves the block
		[]byte{0x02, 0x40, 0x03, 0x40}, inc(3), inc(1), lessN,
		[]byte{0x0E, 1, 1, 0, 0x0B, 0x0B, 0x20, 3}), func(n uint32) uint32 { return max(n, 1) }},
	{"outer_brif", code( // for i < n { i++; for j = 0; ; { acc++; j++; if j >= i { continue outer (br_if 2) } } }
		[]byte{0x02, 0x40, 0x03, 0x40, 0x20, 1, 0x20, 0, 0x4F, 0x0D, 1}, inc(1),
		[]byte{0x41, 0, 0x21, 2, 0x02, 0x40, 0x03, 0x40}, inc(3), inc(2),
		[]byte{0x20, 2, 0x20, 1, 0x4F, 0x0D, 2, 0x0C, 0, 0x0B, 0x0B, 0x0B, 0x0B, 0x20, 3}),
		func(n uint32) uint32 { return n * (n + 1) / 2 }},
	{"outer_br", code( // the same, continuing the outer loop with br 3 from inside an if
		[]byte{0x02, 0x40, 0x03, 0x40, 0x20, 1, 0x20, 0, 0x4F, 0x0D, 1}, inc(1),
		[]byte{0x41, 0, 0x21, 2, 0x02, 0x40, 0x03, 0x40}, inc(3), inc(2),
		[]byte{0x20, 2, 0x20, 1, 0x4F, 0x04, 0x40, 0x0C, 3, 0x0B, 0x0C, 0, 0x0B, 0x0B, 0x0B, 0x0B, 0x20, 3}),
		func(n uint32) uint32 { return n * (n + 1) / 2 }},
	{"no_back_edge", code( // loops that cannot iterate: no branch to them
		[]byte{0x03, 0x7F, 0x41, 42, 0x0B},
		[]byte{0x02, 0x40, 0x03, 0x40, 0x0C, 1, 0x0B, 0x0B, 0x20, 0, 0x6A}),
		func(n uint32) uint32 { return 42 + n }},
	{"deep", code( // br_if 127 to a loop: the rewrite branches to label 128 (two LEB128 bytes)
		[]byte{0x03, 0x40}, rep([]byte{0x02, 0x40}, 127), inc(3), inc(1), lessN,
		[]byte{0x0D, 127}, rep([]byte{0x0B}, 128), []byte{0x20, 3}),
		func(n uint32) uint32 { return max(n, 1) }},

	{"spin_br", []byte{0x03, 0x40, 0x0C, 0, 0x0B, 0x41, 0}, nil},
	{"spin_brif", []byte{0x03, 0x40, 0x41, 1, 0x0D, 0, 0x0B, 0x41, 0}, nil},
	{"spin_brif_params", []byte{0x41, 0, 0x03, 0x01, 0x41, 1, 0x0D, 0, 0x0B}, nil},
	{"spin_br_table", []byte{0x03, 0x40, 0x41, 0, 0x0E, 0, 0, 0x0B, 0x41, 0}, nil},
	{"spin_outer_brif", []byte{0x03, 0x40, 0x02, 0x40, 0x03, 0x40, 0x41, 1, 0x0D, 2, 0x0B, 0x0B, 0x0B, 0x41, 0}, nil},
	{"spin_deep", code([]byte{0x03, 0x40}, rep([]byte{0x02, 0x40}, 127),
		[]byte{0x41, 1, 0x0D, 127}, rep([]byte{0x0B}, 128), []byte{0x41, 0}), nil},
	{"spin_brif_operand", []byte{ // br_if with an operand of its block below it
		0x03, 0x40, 0x02, 0x7F, 0x41, 7, 0x41, 1, 0x0D, 1, 0x0B, 0x1A, 0x0B, 0x41, 0}, nil},
	{"spin_br_operand", []byte{0x03, 0x40, 0x41, 7, 0x0C, 0, 0x0B, 0x41, 0}, nil},
}

// handModule has every handFunc, exported under its name.
func handModule() []byte {
	var funcs, exports, bodies [][]byte
	for i, f := range handFuncs {
		funcs = append(funcs, []byte{1})
		exports = append(exports, append(appendName(nil, f.name), 0, byte(i)))
		bodies = append(bodies, body(vec([]byte{3, 0x7F}), append(append([]byte(nil), f.code...), 0x0B)...))
	}
	return module(
		sec(secType, vec([]byte{0x60, 0, 0}, []byte{0x60, 1, 0x7F, 1, 0x7F})),
		sec(secFunction, vec(funcs...)),
		memSec,
		sec(secExport, vec(exports...)),
		sec(secCode, vec(bodies...)),
	)
}

func TestBackEdges(t *testing.T) {
	in := handModule()
	out, st, err := InstrumentStats(in)
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{Loops: 21, HeaderChecks: 4, LoopsBackEdges: 14, LoopsUnchecked: 3, BackEdgeChecks: 14, Functions: len(handFuncs)}
	if st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
	if v := verifyChecks(t, out, outCheck(t, out)); v != (placement{loops: 21, headers: 4, backEdgeLoops: 14, backEdges: 14, unchecked: 3}) {
		t.Fatalf("placement %+v", v)
	}

	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	orig, err := rt.Instantiate(ctx, in)
	if err != nil {
		t.Fatalf("hand-assembled module: %v", err)
	}
	cm, err := rt.CompileModule(ctx, out)
	if err != nil {
		t.Fatalf("instrumented module does not compile: %v", err)
	}
	inst := func() api.Module {
		m, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName(""))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	mod := inst()
	for _, f := range handFuncs {
		if f.want == nil {
			continue
		}
		t.Run(f.name, func(t *testing.T) {
			// 3*SafepointEvery iterations pass the safepoint a few times.
			for _, n := range []uint32{1, 2, 5, 300, 3 * SafepointEvery} {
				if f.name == "outer_brif" || f.name == "outer_br" {
					n = min(n, 1000)
				}
				a, err := orig.ExportedFunction(f.name).Call(ctx, uint64(n))
				if err != nil || uint32(a[0]) != f.want(n) {
					t.Fatalf("original %s(%d) = %v, %v; want %d", f.name, n, a, err, f.want(n))
				}
				b, err := mod.ExportedFunction(f.name).Call(ctx, uint64(n))
				if err != nil || b[0] != a[0] {
					t.Fatalf("instrumented %s(%d) = %v, %v; want %d", f.name, n, b, err, a[0])
				}
			}
		})
	}
	for _, f := range handFuncs {
		if f.want != nil {
			continue
		}
		t.Run(f.name, func(t *testing.T) {
			m := inst()
			done := make(chan error, 1)
			go func() {
				_, err := m.ExportedFunction(f.name).Call(ctx, 0)
				done <- err
			}()
			select {
			case err := <-done:
				t.Fatalf("returned early: %v", err)
			case <-time.After(20 * time.Millisecond):
			}
			m.ExportedGlobal(AbortGlobal).(api.MutableGlobal).Set(1)
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "unreachable") {
					t.Fatalf("%v, want an unreachable trap", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("not aborted by the global")
			}
		})
	}
}

// TestImportedFunction: the safepoint function comes after the imported
// and defined functions (index 2 here), and calls to the import still go
// to the import.
func TestImportedFunction(t *testing.T) {
	in := module(
		sec(secType, vec([]byte{0x60, 0, 0})),
		sec(secImport, vec(append(appendName(appendName(nil, "env"), "f"), 0x00, 0x00))),
		sec(secFunction, vec([]byte{0})),
		memSec,
		sec(secExport, vec(append(appendName(nil, "spin"), 0, 1))),
		sec(secCode, vec(body(vec(), 0x03, 0x40, 0x10, 0, 0x0C, 0, 0x0B, 0x0B))), // loop { f() }
	)
	out, _, err := Instrument(in)
	if err != nil {
		t.Fatal(err)
	}
	if c := outCheck(t, out); !bytes.Equal(c, Check(2, 1)) {
		t.Fatalf("check %x, want one calling function 2", c)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	calls := make(chan struct{}, 1)
	if _, err := rt.NewHostModuleBuilder("env").NewFunctionBuilder().WithFunc(func() {
		select {
		case calls <- struct{}{}:
		default:
		}
	}).Export("f").Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	m, err := rt.Instantiate(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := m.ExportedFunction("spin").Call(ctx)
		done <- err
	}()
	select {
	case <-calls:
	case <-time.After(10 * time.Second):
		t.Fatal("the import was not called")
	}
	m.ExportedGlobal(AbortGlobal).(api.MutableGlobal).Set(1)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("%v, want an unreachable trap", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("not aborted by the global")
	}
}

// TestNoFunctions: a module with a memory and nothing else gets a type,
// a function and a code section for the safepoint function.
func TestNoFunctions(t *testing.T) {
	out, st, err := InstrumentStats(module(memSec))
	if err != nil {
		t.Fatal(err)
	}
	if st != (Stats{}) {
		t.Fatalf("stats %+v", st)
	}
	if c := outCheck(t, out); !bytes.Equal(c, Check(0, 1)) {
		t.Fatalf("check %x", c)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	m, err := rt.Instantiate(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	if m.ExportedGlobal(AbortGlobal) == nil {
		t.Fatal("no abort global")
	}
}
