// Package instrument rewrites a WebAssembly module so that the host can
// abort it cheaply: it adds two mutable i32 globals, $abort (exported as
// AbortGlobal, initially 0) and $budget (not exported, initially
// SafepointEvery), and at the head of every loop:
//
//	loop <blocktype>
//	  global.get $budget
//	  i32.const 1
//	  i32.sub
//	  global.set $budget
//	  global.get $budget
//	  i32.eqz
//	  if                       ;; every SafepointEvery loop iterations
//	    i32.const SafepointEvery
//	    global.set $budget
//	    i32.const 0
//	    memory.grow 0          ;; a no-op that exits to the host runtime
//	    drop
//	    global.get $abort
//	    if
//	      unreachable
//	    end
//	  end
//	  ...
//
// Setting $abort to a non-zero value from the host makes the guest trap
// within SafepointEvery loop iterations. Code without loops is bounded and
// finishes by itself; recursion is bounded by the stack and traps.
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
	Loops     int // loop instructions instrumented
	Functions int // function bodies walked
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
	var nImportedGlobals, nGlobals, nMemories uint32
	globalAt, exportAt := -1, -1
	for i, s := range secs {
		switch s.id {
		case secImport:
			if nImportedGlobals, nMemories, err = countImports(s.data); err != nil {
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
	idx := nImportedGlobals + nGlobals
	check := Check(idx, idx+1)

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
	// Code section.
	for i := range secs {
		if secs[i].id == secCode {
			d, s, err := instrumentCode(secs[i].data, check)
			if err != nil {
				return nil, st, err
			}
			secs[i].data = d
			st = s
		}
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

// Check is the code inserted after every loop header, for the abort and
// budget globals at those indices.
func Check(abort, budget uint32) []byte {
	b := appendU32([]byte{0x23}, budget)     // global.get $budget
	b = append(b, 0x41, 0x01, 0x6B, 0x24)    // i32.const 1, i32.sub, global.set
	b = appendU32(b, budget)                 // $budget
	b = appendU32(append(b, 0x23), budget)   // global.get $budget
	b = append(b, 0x45, 0x04, 0x40, 0x41)    // i32.eqz, if, i32.const
	b = appendS32(b, SafepointEvery)         // SafepointEvery
	b = appendU32(append(b, 0x24), budget)   // global.set $budget
	b = append(b, 0x41, 0x00, 0x40, 0x00)    // i32.const 0, memory.grow 0
	b = append(b, 0x1A, 0x23)                // drop, global.get
	b = appendU32(b, abort)                  // $abort
	return append(b, 0x04, 0x40, 0x00, 0x0B, // if, unreachable, end
		0x0B) // end
}

// countImports counts the imported globals and memories.
func countImports(data []byte) (globals, memories uint32, err error) {
	r := &reader{b: data}
	n, err := r.u32()
	if err != nil {
		return 0, 0, err
	}
	for i := uint32(0); i < n; i++ {
		if err := r.skipName(); err != nil { // module
			return 0, 0, err
		}
		if err := r.skipName(); err != nil { // name
			return 0, 0, err
		}
		kind, err := r.byte()
		if err != nil {
			return 0, 0, err
		}
		switch kind {
		case 0x00: // func: typeidx
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
			return 0, 0, err
		}
	}
	if !r.eof() {
		return 0, 0, fmt.Errorf("%w: trailing bytes in import section", ErrMalformed)
	}
	return globals, memories, nil
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

func instrumentCode(data, check []byte) ([]byte, Stats, error) {
	var st Stats
	r := &reader{b: data}
	n, err := r.u32()
	if err != nil {
		return nil, st, err
	}
	out := make([]byte, 0, len(data)+len(data)/8)
	out = appendU32(out, n)
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
	return out, st, nil
}

// instrumentBody appends body b, with a check after every loop header, to out.
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
	copied := 0
	depth := 1 // the function body's own block
	for depth > 0 {
		if r.eof() {
			return nil, fmt.Errorf("%w: function body ends inside a block", ErrMalformed)
		}
		op, _ := r.byte()
		switch op {
		case 0x02, 0x04: // block, if
			depth++
			err = r.skipBlockType()
		case 0x03: // loop
			depth++
			if err = r.skipBlockType(); err == nil {
				out = append(out, b[copied:r.pos]...)
				out = append(out, check...)
				copied = r.pos
				st.Loops++
			}
		case 0x0B: // end
			depth--
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
