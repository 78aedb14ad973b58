// Package instrument rewrites a WebAssembly module so that the host can
// abort it cheaply: it adds two mutable i32 globals, $abort (exported as
// AbortGlobal, initially 0) and $budget (not exported, initially
// SafepointEvery), a function $safepoint of type [] -> [] (after all the
// others, so no index moves):
//
//	i32.const SafepointEvery
//	global.set $budget
//	i32.const 0
//	memory.grow 0              ;; a no-op that exits to the host runtime
//	drop
//	global.get $abort
//	if
//	  unreachable
//	end
//
// and a check (see Check) on every loop back edge:
//
//	global.get $budget
//	i32.const 1
//	i32.sub
//	global.set $budget
//	global.get $budget
//	i32.eqz
//	if                         ;; every SafepointEvery loop iterations
//	  call $safepoint
//	end
//
// The rare path is out of line because there are many checks (about ten
// per Go function): with it inline, the code grew by 15% and the jsonmask
// plugin ran 20% slower.
//
// A loop iterates only when a branch targets its label, so the check goes
// where it runs once per iteration and costs nothing on entry:
//
//   - before each br to a loop (the check leaves the operand stack as it
//     was);
//   - br_if L to a loop without parameters (block type 0x40 or one value
//     type) becomes "if <check> br L+1 end", so the check runs only when
//     the branch is taken;
//   - a loop that a br_table targets, or a br_if while its block type is a
//     type index (it may take parameters, which the if could not pass),
//     keeps the check at its head, right after "loop <blocktype>", and
//     branches to it get none;
//   - a loop that no branch targets cannot iterate and gets no check.
//
// br, br_if and br_table are the only branches to a label the decoder
// accepts (an unknown opcode is an error), so every iteration of every loop
// passes a check: setting $abort to a non-zero value from the host makes the
// guest trap within SafepointEvery loop iterations. Code without loops is
// bounded and finishes by itself; recursion is bounded by the stack and
// traps.
//
// (Tail calls, return_call, are not branches: a module that uses them to
// run forever in constant stack is not caught. wazero, as the engine
// configures it, refuses them.)
//
// This matters for Go: its compiler wraps every function body in a loop,
// entered by falling into it, that its jumps between basic blocks branch
// to (br); a check at the head ran on every call, a check before each br
// runs only on those jumps.
//
// Why memory.grow 0: a Go host (wazero) cannot stop a goroutine that runs
// compiled guest code for a garbage collection, and a stop-the-world that
// waits for a guest spinning in a loop also stops the timer goroutine that
// would set $abort: the process deadlocks. wazero compiles memory.grow as an
// exit to Go, which is a point where the goroutine can be stopped, so the
// guest reaches one every SafepointEvery iterations. A module without a
// memory has no such exit and is refused (ErrUnsupported).
//
// It is written from the WebAssembly binary format specification (core 2.0
// plus the sign-extension, non-trapping conversion, bulk memory, reference
// types, multi-value, tail call, SIMD, relaxed SIMD and threads proposals).
// Any opcode it does not know is an error, never a guess: the caller must
// then protect the module another way.
package instrument

import (
	"errors"
	"fmt"
	"math"
)

// AbortGlobal is the export name of the added global.
const AbortGlobal = "__heimdall_abort"

// SafepointEvery is the number of loop iterations between two checks of
// the abort global (and two exits to the host).
const SafepointEvery = 8192

// ErrMalformed wraps every decoding error.
var ErrMalformed = errors.New("malformed wasm module")

// ErrUnsupported is a valid module that cannot be instrumented.
var ErrUnsupported = errors.New("wasm module cannot be instrumented")

// Section ids.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

// order is each known section's rank in the required section order
// (custom sections may appear anywhere).
var order = map[byte]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5,
	secTag: 6, secGlobal: 7, secExport: 8, secStart: 9, secElement: 10,
	secDataCount: 11, secCode: 12, secData: 13,
}

type section struct {
	id   byte
	data []byte
}

// Stats describes what Instrument did.
type Stats struct {
	Loops          int // loop instructions seen
	HeaderChecks   int // loops checked at their head
	LoopsBackEdges int // loops checked on their back edges instead
	LoopsUnchecked int // loops no branch targets: they cannot iterate
	BackEdgeChecks int // checks placed before a br or br_if to a loop
	Functions      int // function bodies walked
}

// Instrument returns wasm with the abort global and loop checks added, and
// the name the global is exported under.
func Instrument(wasm []byte) (out []byte, globalExport string, err error) {
	out, _, err = InstrumentStats(wasm)
	if err != nil {
		return nil, "", err
	}
	return out, AbortGlobal, nil
}

// InstrumentStats is Instrument that also reports counts.
func InstrumentStats(wasm []byte) (out []byte, st Stats, err error) {
	defer func() {
		// The decoder checks every bound; this is a last line of defence
		// so that a bug is an error, never a crash of the gateway.
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%w: internal error: %v", ErrMalformed, r)
		}
	}()
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, st, fmt.Errorf("%w: no wasm magic", ErrMalformed)
	}
	if wasm[4] != 1 || wasm[5] != 0 || wasm[6] != 0 || wasm[7] != 0 {
		return nil, st, fmt.Errorf("%w: unsupported binary version %x", ErrMalformed, wasm[4:8])
	}
	var secs []section
	r := &reader{b: wasm, pos: 8}
	last := 0
	for !r.eof() {
		id, err := r.byte()
		if err != nil {
			return nil, st, err
		}
		n, err := r.u32()
		if err != nil {
			return nil, st, err
		}
		data, err := r.bytes(int(n))
		if err != nil {
			return nil, st, err
		}
		if id != secCustom {
			rank, ok := order[id]
			if !ok {
				return nil, st, fmt.Errorf("%w: unknown section id %d", ErrMalformed, id)
			}
			if rank <= last {
				return nil, st, fmt.Errorf("%w: section %d out of order or repeated", ErrMalformed, id)
			}
			last = rank
		}
		secs = append(secs, section{id: id, data: data})
	}

	// Index of the new global: imported globals + defined globals.
	// Index of the new function: imported functions + defined functions;
	// of its type: the number of types.
	var nImportedGlobals, nGlobals, nMemories, nImportedFuncs, nFuncs, nTypes uint32
	globalAt, exportAt := -1, -1
	for i, s := range secs {
		switch s.id {
		case secType:
			if nTypes, err = countFuncTypes(s.data); err != nil {
				return nil, st, err
			}
		case secImport:
			if nImportedFuncs, nImportedGlobals, nMemories, err = countImports(s.data); err != nil {
				return nil, st, err
			}
		case secFunction:
			sr := &reader{b: s.data}
			if nFuncs, err = sr.u32(); err != nil {
				return nil, st, err
			}
		case secMemory:
			sr := &reader{b: s.data}
			n, err := sr.u32()
			if err != nil {
				return nil, st, err
			}
			nMemories += n
		case secGlobal:
			sr := &reader{b: s.data}
			if nGlobals, err = sr.u32(); err != nil {
				return nil, st, err
			}
			globalAt = i
		case secExport:
			if err := checkExportName(s.data, AbortGlobal); err != nil {
				return nil, st, err
			}
			exportAt = i
		}
	}
	if nMemories == 0 {
		return nil, st, fmt.Errorf("%w: no memory (memory.grow is the safepoint)", ErrUnsupported)
	}
	if uint64(nImportedGlobals)+uint64(nGlobals)+2 >= math.MaxUint32 {
		return nil, st, fmt.Errorf("%w: too many globals", ErrMalformed)
	}
	if uint64(nImportedFuncs)+uint64(nFuncs)+1 >= math.MaxUint32 || uint64(nTypes)+1 >= math.MaxUint32 {
		return nil, st, fmt.Errorf("%w: too many functions or types", ErrMalformed)
	}
	idx := nImportedGlobals + nGlobals
	fn := nImportedFuncs + nFuncs
	check := Check(fn, idx+1)

	// Global section: two more entries, (mut i32) = i32.const 0 and
	// (mut i32) = i32.const SafepointEvery.
	newGlobal := []byte{0x7F, 0x01, 0x41, 0x00, 0x0B, 0x7F, 0x01, 0x41}
	newGlobal = appendS32(newGlobal, SafepointEvery)
	newGlobal = append(newGlobal, 0x0B)
	if globalAt >= 0 {
		sr := &reader{b: secs[globalAt].data}
		_, _ = sr.u32()
		d := appendU32(nil, nGlobals+2)
		d = append(d, secs[globalAt].data[sr.pos:]...)
		secs[globalAt].data = append(d, newGlobal...)
	} else {
		globalAt = insertSection(&secs, section{id: secGlobal, data: append([]byte{2}, newGlobal...)})
		if exportAt >= globalAt {
			exportAt++
		}
	}
	// Export section: one more entry.
	newExport := appendName(nil, AbortGlobal)
	newExport = append(newExport, 0x03)
	newExport = appendU32(newExport, idx)
	if exportAt >= 0 {
		sr := &reader{b: secs[exportAt].data}
		n, err := sr.u32()
		if err != nil {
			return nil, st, err
		}
		d := appendU32(nil, n+1)
		d = append(d, secs[exportAt].data[sr.pos:]...)
		secs[exportAt].data = append(d, newExport...)
	} else {
		insertSection(&secs, section{id: secExport, data: append([]byte{1}, newExport...)})
	}
	// Code section, with the safepoint function's body at the end.
	safepoint := Safepoint(idx, idx+1)
	codeAt := -1
	for i := range secs {
		if secs[i].id == secCode {
			d, s, err := instrumentCode(secs[i].data, check, safepoint)
			if err != nil {
				return nil, st, err
			}
			secs[i].data = d
			st = s
			codeAt = i
		}
	}
	if codeAt < 0 {
		if nFuncs != 0 {
			return nil, st, fmt.Errorf("%w: functions without a code section", ErrMalformed)
		}
		d := appendU32([]byte{1}, uint32(len(safepoint)))
		insertSection(&secs, section{id: secCode, data: append(d, safepoint...)})
	}
	// Function section: the safepoint function, of type nTypes.
	fnEntry := appendU32(nil, nTypes)
	if err := appendToVec(&secs, secFunction, nFuncs, fnEntry); err != nil {
		return nil, st, err
	}
	// Type section: [] -> [].
	if err := appendToVec(&secs, secType, nTypes, []byte{0x60, 0x00, 0x00}); err != nil {
		return nil, st, err
	}

	size := 8
	for _, s := range secs {
		size += 1 + 5 + len(s.data)
	}
	out = make([]byte, 0, size)
	out = append(out, wasm[:8]...)
	for _, s := range secs {
		out = append(out, s.id)
		out = appendU32(out, uint32(len(s.data)))
		out = append(out, s.data...)
	}
	return out, st, nil
}

// appendToVec appends entry to the vector that section id holds (n
// entries), creating the section if there is none.
func appendToVec(secs *[]section, id byte, n uint32, entry []byte) error {
	for i := range *secs {
		s := &(*secs)[i]
		if s.id != id {
			continue
		}
		sr := &reader{b: s.data}
		if _, err := sr.u32(); err != nil {
			return err
		}
		d := appendU32(nil, n+1)
		d = append(d, s.data[sr.pos:]...)
		s.data = append(d, entry...)
		return nil
	}
	insertSection(secs, section{id: id, data: append([]byte{1}, entry...)})
	return nil
}

// countFuncTypes counts the entries of a type section, all function types.
func countFuncTypes(data []byte) (uint32, error) {
	r := &reader{b: data}
	n, err := r.u32()
	if err != nil {
		return 0, err
	}
	for i := uint32(0); i < n; i++ {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if c != 0x60 {
			// A recursive or sub type (GC proposal) may define several
			// types in one entry.
			return 0, fmt.Errorf("%w: type 0x%02x is not a function type", ErrUnsupported, c)
		}
		for k := 0; k < 2; k++ { // params, results
			m, err := r.u32()
			if err != nil {
				return 0, err
			}
			for j := uint32(0); j < m; j++ {
				if err := r.skipValType(); err != nil {
					return 0, err
				}
			}
		}
	}
	if !r.eof() {
		return 0, fmt.Errorf("%w: trailing bytes in type section", ErrMalformed)
	}
	return n, nil
}

// insertSection puts s before the first non-custom section ranked after it
// and returns its index.
func insertSection(secs *[]section, s section) int {
	rank := order[s.id]
	at := len(*secs)
	for i, x := range *secs {
		if x.id != secCustom && order[x.id] > rank {
			at = i
			break
		}
	}
	*secs = append(*secs, section{})
	copy((*secs)[at+1:], (*secs)[at:])
	(*secs)[at] = s
	return at
}

// Check is the code inserted before every br to a loop, inside the if that
// replaces a br_if to a loop, or right after the header of a loop that a
// br_table (or a br_if that may pass parameters) targets, for the added
// safepoint function and budget global at those indices. It takes and
// leaves nothing on the operand stack. It is short because there are many
// (about ten per Go function): the rare path is out of line, in Safepoint.
func Check(safepoint, budget uint32) []byte {
	b := appendU32([]byte{0x23}, budget)   // global.get $budget
	b = append(b, 0x41, 0x01, 0x6B, 0x24)  // i32.const 1, i32.sub, global.set
	b = appendU32(b, budget)               // $budget
	b = appendU32(append(b, 0x23), budget) // global.get $budget
	b = append(b, 0x45, 0x04, 0x40, 0x10)  // i32.eqz, if, call
	b = appendU32(b, safepoint)            // $safepoint
	return append(b, 0x0B)                 // end
}

// Safepoint is the body (with its size prefix left out) of the added
// function, of type [] -> [], that Check calls every SafepointEvery
// iterations, for the abort and budget globals at those indices.
func Safepoint(abort, budget uint32) []byte {
	b := []byte{0x00, 0x41}                  // no locals, i32.const
	b = appendS32(b, SafepointEvery)         // SafepointEvery
	b = appendU32(append(b, 0x24), budget)   // global.set $budget
	b = append(b, 0x41, 0x00, 0x40, 0x00)    // i32.const 0, memory.grow 0
	b = append(b, 0x1A, 0x23)                // drop, global.get
	b = appendU32(b, abort)                  // $abort
	return append(b, 0x04, 0x40, 0x00, 0x0B, // if, unreachable, end
		0x0B) // end
}

// countImports counts the imported functions, globals and memories.
func countImports(data []byte) (funcs, globals, memories uint32, err error) {
	r := &reader{b: data}
	n, err := r.u32()
	if err != nil {
		return 0, 0, 0, err
	}
	for i := uint32(0); i < n; i++ {
		if err := r.skipName(); err != nil { // module
			return 0, 0, 0, err
		}
		if err := r.skipName(); err != nil { // name
			return 0, 0, 0, err
		}
		kind, err := r.byte()
		if err != nil {
			return 0, 0, 0, err
		}
		switch kind {
		case 0x00: // func: typeidx
			funcs++
			_, err = r.u32()
		case 0x01: // table: reftype limits
			if err = r.skipValType(); err == nil {
				err = r.skipLimits()
			}
		case 0x02: // memory: limits
			memories++
			err = r.skipLimits()
		case 0x03: // global: valtype mut
			globals++
			if err = r.skipValType(); err == nil {
				var m byte
				if m, err = r.byte(); err == nil && m > 1 {
					err = fmt.Errorf("%w: bad global mutability %d", ErrMalformed, m)
				}
			}
		case 0x04: // tag: attribute typeidx
			if _, err = r.byte(); err == nil {
				_, err = r.u32()
			}
		default:
			err = fmt.Errorf("%w: unknown import kind %d", ErrMalformed, kind)
		}
		if err != nil {
			return 0, 0, 0, err
		}
	}
	if !r.eof() {
		return 0, 0, 0, fmt.Errorf("%w: trailing bytes in import section", ErrMalformed)
	}
	return funcs, globals, memories, nil
}

func checkExportName(data []byte, name string) error {
	r := &reader{b: data}
	n, err := r.u32()
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		l, err := r.u32()
		if err != nil {
			return err
		}
		s, err := r.bytes(int(l))
		if err != nil {
			return err
		}
		if string(s) == name {
			return fmt.Errorf("%w: module already exports %q", ErrMalformed, name)
		}
		if _, err := r.byte(); err != nil { // kind
			return err
		}
		if _, err := r.u32(); err != nil { // index
			return err
		}
	}
	if !r.eof() {
		return fmt.Errorf("%w: trailing bytes in export section", ErrMalformed)
	}
	return nil
}

func instrumentCode(data, check, extra []byte) ([]byte, Stats, error) {
	var st Stats
	r := &reader{b: data}
	n, err := r.u32()
	if err != nil {
		return nil, st, err
	}
	if n == math.MaxUint32 {
		return nil, st, fmt.Errorf("%w: too many functions", ErrMalformed)
	}
	out := make([]byte, 0, len(data)+len(data)/8)
	out = appendU32(out, n+1)
	var body []byte
	for i := uint32(0); i < n; i++ {
		size, err := r.u32()
		if err != nil {
			return nil, st, err
		}
		b, err := r.bytes(int(size))
		if err != nil {
			return nil, st, err
		}
		body, err = instrumentBody(body[:0], b, check, &st)
		if err != nil {
			return nil, st, fmt.Errorf("function body %d: %w", i, err)
		}
		st.Functions++
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	if !r.eof() {
		return nil, st, fmt.Errorf("%w: trailing bytes in code section", ErrMalformed)
	}
	out = appendU32(out, uint32(len(extra)))
	return append(out, extra...), st, nil
}

// Label kinds on the label stack of instrumentBody.
const (
	labelBlock = iota // block, if and the function body
	labelLoop
)

// label is an entry of the label stack: its kind and, for a loop, the
// loop's ordinal in the function body.
type label struct {
	kind int
	loop int
}

// Per-loop placement of the check, decided by the first pass.
const (
	loopUnchecked = iota // no branch targets it: it cannot iterate
	loopBackEdges        // only br, and br_if with no loop parameters
	loopHeader           // a br_table, or a br_if that may pass parameters
)

// labelTarget returns the label stack entry that label index l names.
func labelTarget(labels []label, l uint32) (label, error) {
	if uint64(l) >= uint64(len(labels)) {
		return label{}, fmt.Errorf("%w: branch to unknown label %d", ErrMalformed, l)
	}
	return labels[len(labels)-1-int(l)], nil
}

// instrumentBody appends body b, with the checks placed, to out.
//
// A first pass gives each loop (numbered in order of appearance) a
// placement: no check if no branch targets it; a check before each
// branch to it (br, or br_if rewritten as if-br) if those are all its
// back edges; a check at its head otherwise. The second pass emits.
func instrumentBody(out, b, check []byte, st *Stats) ([]byte, error) {
	r := &reader{b: b}
	// Locals.
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	for i := uint32(0); i < n; i++ {
		if _, err := r.u32(); err != nil {
			return nil, err
		}
		if err := r.skipValType(); err != nil {
			return nil, err
		}
	}
	codeAt := r.pos

	// First pass: classify the loops.
	var place []int
	var typed []bool                      // the loop's block type is a type index
	labels := []label{{kind: labelBlock}} // the function body's own block
	for len(labels) > 0 {
		if r.eof() {
			return nil, fmt.Errorf("%w: function body ends inside a block", ErrMalformed)
		}
		op, _ := r.byte()
		switch op {
		case 0x02, 0x04: // block, if
			labels = append(labels, label{kind: labelBlock})
			err = r.skipBlockType()
		case 0x03: // loop
			labels = append(labels, label{kind: labelLoop, loop: len(place)})
			place = append(place, loopUnchecked)
			// 0x40 and the value types are one byte with bit 6 set;
			// a type index (s33, non-negative) has it clear.
			typed = append(typed, !r.eof() && r.b[r.pos]&0xC0 != 0x40)
			err = r.skipBlockType()
		case 0x0B: // end
			labels = labels[:len(labels)-1]
		case 0x0C, 0x0D: // br, br_if
			var l uint32
			var t label
			if l, err = r.u32(); err == nil {
				t, err = labelTarget(labels, l)
			}
			if err == nil && t.kind == labelLoop && place[t.loop] != loopHeader {
				place[t.loop] = loopBackEdges
				if op == 0x0D && typed[t.loop] {
					// br_if is rewritten as if-br, so the loop must
					// take no parameters; a type index may have some.
					place[t.loop] = loopHeader
				}
			}
		case 0x0E: // br_table
			var cnt uint32
			if cnt, err = r.u32(); err != nil {
				return nil, err
			}
			for i := uint64(0); i <= uint64(cnt) && err == nil; i++ {
				var l uint32
				var t label
				if l, err = r.u32(); err == nil {
					t, err = labelTarget(labels, l)
				}
				if err == nil && t.kind == labelLoop {
					place[t.loop] = loopHeader
				}
			}
		default:
			err = r.skipInstr(op)
		}
		if err != nil {
			return nil, err
		}
	}
	if !r.eof() {
		return nil, fmt.Errorf("%w: bytes after the end of a function body", ErrMalformed)
	}
	for _, p := range place {
		st.Loops++
		switch p {
		case loopUnchecked:
			st.LoopsUnchecked++
		case loopBackEdges:
			st.LoopsBackEdges++
		case loopHeader:
			st.HeaderChecks++
		}
	}

	// Second pass: emit. The first pass validated the structure and every
	// immediate, so the errors below cannot happen.
	r.pos = codeAt
	copied := 0
	nloop := 0
	labels = append(labels[:0], label{kind: labelBlock})
	for len(labels) > 0 {
		at := r.pos
		op, _ := r.byte()
		switch op {
		case 0x02, 0x04: // block, if
			labels = append(labels, label{kind: labelBlock})
			err = r.skipBlockType()
		case 0x03: // loop
			labels = append(labels, label{kind: labelLoop, loop: nloop})
			if err = r.skipBlockType(); err == nil && place[nloop] == loopHeader {
				out = append(out, b[copied:r.pos]...)
				out = append(out, check...)
				copied = r.pos
			}
			nloop++
		case 0x0B: // end
			labels = labels[:len(labels)-1]
		case 0x0C, 0x0D: // br, br_if
			var l uint32
			var t label
			if l, err = r.u32(); err == nil {
				t, err = labelTarget(labels, l)
			}
			if err != nil || t.kind != labelLoop || place[t.loop] != loopBackEdges {
				break
			}
			out = append(out, b[copied:at]...)
			if op == 0x0C {
				// check; br l (the check leaves the stack as it was)
				out = append(out, check...)
				copied = at
			} else {
				// if; check; br l+1; end (the if is a label too)
				out = append(out, 0x04, 0x40)
				out = append(out, check...)
				out = appendU32(append(out, 0x0C), l+1)
				out = append(out, 0x0B)
				copied = r.pos
			}
			st.BackEdgeChecks++
		default:
			err = r.skipInstr(op)
		}
		if err != nil {
			return nil, err
		}
	}
	return append(out, b[copied:]...), nil
}

// skipInstr skips the immediates of op (not block, loop, if or end).
func (r *reader) skipInstr(op byte) error {
	var err error
	switch {
	case op == 0x00, op == 0x01, op == 0x05, op == 0x0F, // unreachable nop else return
		op == 0x1A, op == 0x1B, // drop select
		op >= 0x45 && op <= 0xC4, // numeric, sign extension
		op == 0xD1:               // ref.is_null
		return nil
	case op == 0x0C, op == 0x0D, // br br_if
		op == 0x10, op == 0x12, // call return_call
		op >= 0x20 && op <= 0x26, // local.* global.* table.get/set
		op == 0xD2:               // ref.func
		_, err = r.u32()
	case op == 0x0E: // br_table
		var n uint32
		if n, err = r.u32(); err != nil {
			return err
		}
		for i := uint64(0); i <= uint64(n) && err == nil; i++ {
			_, err = r.u32()
		}
	case op == 0x11, op == 0x13: // call_indirect return_call_indirect: type table
		if _, err = r.u32(); err == nil {
			_, err = r.u32()
		}
	case op == 0x1C: // select t*
		var n uint32
		if n, err = r.u32(); err != nil {
			return err
		}
		for i := uint32(0); i < n && err == nil; i++ {
			err = r.skipValType()
		}
	case op >= 0x28 && op <= 0x3E: // loads and stores
		err = r.skipMemArg()
	case op == 0x3F, op == 0x40: // memory.size memory.grow: memidx
		_, err = r.u32()
	case op == 0x41:
		_, err = r.sleb(32)
	case op == 0x42:
		_, err = r.sleb(64)
	case op == 0x43:
		_, err = r.bytes(4)
	case op == 0x44:
		_, err = r.bytes(8)
	case op == 0xD0: // ref.null heaptype
		_, err = r.sleb(33)
	case op == 0xFC:
		err = r.skipFC()
	case op == 0xFD:
		err = r.skipFD()
	case op == 0xFE:
		err = r.skipFE()
	default:
		return fmt.Errorf("%w: unknown opcode 0x%02x at offset %d", ErrMalformed, op, r.pos-1)
	}
	return err
}

func (r *reader) skipFC() error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 7: // iNN.trunc_sat_fMM_s/u
		return nil
	case sub == 8: // memory.init data mem
		return r.skipU32s(2)
	case sub == 9: // data.drop data
		return r.skipU32s(1)
	case sub == 10: // memory.copy mem mem
		return r.skipU32s(2)
	case sub == 11: // memory.fill mem
		return r.skipU32s(1)
	case sub == 12: // table.init elem table
		return r.skipU32s(2)
	case sub == 13: // elem.drop elem
		return r.skipU32s(1)
	case sub == 14: // table.copy table table
		return r.skipU32s(2)
	case sub >= 15 && sub <= 17: // table.grow table.size table.fill
		return r.skipU32s(1)
	}
	return fmt.Errorf("%w: unknown opcode 0xfc %d at offset %d", ErrMalformed, sub, r.pos)
}

func (r *reader) skipFD() error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 11, sub == 92, sub == 93: // v128.load*, v128.store, load*_zero
		return r.skipMemArg()
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		_, err = r.bytes(16)
		return err
	case sub >= 21 && sub <= 34: // extract_lane / replace_lane
		_, err = r.byte()
		return err
	case sub >= 84 && sub <= 91: // v128.loadN_lane / storeN_lane
		if err = r.skipMemArg(); err == nil {
			_, err = r.byte()
		}
		return err
	case sub <= 255: // every other SIMD instruction has no immediate
		return nil
	case sub >= 0x100 && sub <= 0x113: // relaxed SIMD
		return nil
	}
	return fmt.Errorf("%w: unknown opcode 0xfd %d at offset %d", ErrMalformed, sub, r.pos)
}

func (r *reader) skipFE() error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 2: // memory.atomic.notify, wait32, wait64
		return r.skipMemArg()
	case sub == 3: // atomic.fence: reserved byte
		_, err = r.byte()
		return err
	case sub >= 0x10 && sub <= 0x4E: // atomic loads, stores, rmw, cmpxchg
		return r.skipMemArg()
	}
	return fmt.Errorf("%w: unknown opcode 0xfe %d at offset %d", ErrMalformed, sub, r.pos)
}

// reader decodes bytes; every method checks bounds and returns an
// ErrMalformed error instead of reading past the end.
type reader struct {
	b   []byte
	pos int
}

func (r *reader) eof() bool { return r.pos >= len(r.b) }

var errEOF = fmt.Errorf("%w: unexpected end", ErrMalformed)

func (r *reader) byte() (byte, error) {
	if r.pos >= len(r.b) {
		return 0, errEOF
	}
	c := r.b[r.pos]
	r.pos++
	return c, nil
}

func (r *reader) bytes(n int) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.pos {
		return nil, errEOF
	}
	s := r.b[r.pos : r.pos+n]
	r.pos += n
	return s, nil
}

// uleb reads an unsigned LEB128 of at most bits bits.
func (r *reader) uleb(bits uint) (uint64, error) {
	var v uint64
	var shift uint
	for {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if shift >= bits {
			return 0, fmt.Errorf("%w: LEB128 too long", ErrMalformed)
		}
		v |= uint64(c&0x7F) << shift
		if c&0x80 == 0 {
			if bits < 64 && v>>bits != 0 {
				return 0, fmt.Errorf("%w: LEB128 out of range", ErrMalformed)
			}
			return v, nil
		}
		shift += 7
	}
}

// sleb reads a signed LEB128 of at most bits bits.
func (r *reader) sleb(bits uint) (int64, error) {
	var v int64
	var shift uint
	for {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if shift >= bits {
			return 0, fmt.Errorf("%w: LEB128 too long", ErrMalformed)
		}
		v |= int64(c&0x7F) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, nil
		}
	}
}

func (r *reader) u32() (uint32, error) {
	v, err := r.uleb(32)
	return uint32(v), err
}

func (r *reader) skipU32s(n int) error {
	for i := 0; i < n; i++ {
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	return nil
}

func (r *reader) skipName() error {
	n, err := r.u32()
	if err != nil {
		return err
	}
	_, err = r.bytes(int(n))
	return err
}

// skipValType skips a value type: a number, vector or reference type
// (one byte), or a typed reference (ref null? heaptype).
func (r *reader) skipValType() error {
	c, err := r.byte()
	if err != nil {
		return err
	}
	switch c {
	case 0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F:
		return nil
	case 0x63, 0x64: // (ref null ht), (ref ht)
		_, err = r.sleb(33)
		return err
	}
	return fmt.Errorf("%w: unknown value type 0x%02x", ErrMalformed, c)
}

// skipBlockType skips a block type: 0x40, a value type, or a type index
// (s33, non-negative).
func (r *reader) skipBlockType() error {
	if r.pos >= len(r.b) {
		return errEOF
	}
	c := r.b[r.pos]
	if c == 0x40 {
		r.pos++
		return nil
	}
	if c&0x80 == 0 && c&0x40 != 0 { // one-byte negative: a value type
		return r.skipValType()
	}
	v, err := r.sleb(33)
	if err == nil && v < 0 {
		err = fmt.Errorf("%w: bad block type", ErrMalformed)
	}
	return err
}

// skipLimits skips table or memory limits (with the threads "shared" and
// memory64 flags).
func (r *reader) skipLimits() error {
	flags, err := r.byte()
	if err != nil {
		return err
	}
	if flags > 0x07 {
		return fmt.Errorf("%w: bad limits flags 0x%02x", ErrMalformed, flags)
	}
	if _, err := r.uleb(64); err != nil {
		return err
	}
	if flags&1 != 0 {
		_, err = r.uleb(64)
	}
	return err
}

// skipMemArg skips align (with the multi-memory flag bit 6 announcing a
// memory index) and offset.
func (r *reader) skipMemArg() error {
	align, err := r.u32()
	if err != nil {
		return err
	}
	if align&0x40 != 0 {
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	_, err = r.uleb(64)
	return err
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendName(b []byte, s string) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}
