// Package inspect decodes the parts of a WebAssembly module that say how it
// links and what it needs: its function imports and exports with their
// signatures, its memory limits and its custom sections. It reads the
// binary format itself (core 2.0 section layout; function bodies are not
// decoded), so it is fast on a large plugin and works on a module the
// runtime would refuse, which is when an author needs it most. It imports
// nothing outside the standard library; package engine stays the only one
// that imports wazero (see RATIONALE.md).
package inspect

import (
	"errors"
	"fmt"
	"strings"
)

// ErrMalformed wraps every decoding error.
var ErrMalformed = errors.New("malformed wasm module")

// ValType is a value type.
type ValType byte

// Value types.
const (
	I32       ValType = 0x7f
	I64       ValType = 0x7e
	F32       ValType = 0x7d
	F64       ValType = 0x7c
	V128      ValType = 0x7b
	FuncRef   ValType = 0x70
	ExternRef ValType = 0x6f
)

func (t ValType) String() string {
	switch t {
	case I32:
		return "i32"
	case I64:
		return "i64"
	case F32:
		return "f32"
	case F64:
		return "f64"
	case V128:
		return "v128"
	case FuncRef:
		return "funcref"
	case ExternRef:
		return "externref"
	}
	return fmt.Sprintf("valtype(0x%02x)", byte(t))
}

// FuncType is a function signature.
type FuncType struct {
	Params, Results []ValType
}

func (f FuncType) String() string {
	var b strings.Builder
	b.WriteString("(")
	for i, p := range f.Params {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.String())
	}
	b.WriteString(") -> (")
	for i, r := range f.Results {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(r.String())
	}
	b.WriteString(")")
	return b.String()
}

// Kind is an import or export kind.
type Kind byte

// Kinds.
const (
	KindFunc   Kind = 0
	KindTable  Kind = 1
	KindMemory Kind = 2
	KindGlobal Kind = 3
	KindTag    Kind = 4
)

func (k Kind) String() string {
	switch k {
	case KindFunc:
		return "func"
	case KindTable:
		return "table"
	case KindMemory:
		return "memory"
	case KindGlobal:
		return "global"
	case KindTag:
		return "tag"
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

// Import is one import.
type Import struct {
	Module, Name string
	Kind         Kind
	Type         FuncType // KindFunc
	Memory       *Memory  // KindMemory
}

// Export is one export.
type Export struct {
	Name string
	Kind Kind
	Type FuncType // KindFunc
}

// Memory is a memory's limits in 64 KiB pages.
type Memory struct {
	Min      uint64
	Max      uint64
	HasMax   bool
	Shared   bool
	Memory64 bool
	// Imported: the memory is imported rather than defined.
	Imported bool
}

// CustomSection is a custom section's name and size.
type CustomSection struct {
	Name string
	Size int
	Data []byte
}

// Module is what Parse found.
type Module struct {
	Size      int
	Imports   []Import
	Exports   []Export
	Memories  []Memory
	Custom    []CustomSection
	Functions int  // functions defined (not imported)
	HasStart  bool // a start section (runs at instantiation)
}

// FuncImports returns the function imports.
func (m *Module) FuncImports() []Import {
	var out []Import
	for _, im := range m.Imports {
		if im.Kind == KindFunc {
			out = append(out, im)
		}
	}
	return out
}

// Export returns the export called name.
func (m *Module) Export(name string) (Export, bool) {
	for _, e := range m.Exports {
		if e.Name == name {
			return e, true
		}
	}
	return Export{}, false
}

// HasFuncExport reports whether a function called name is exported.
func (m *Module) HasFuncExport(name string) bool {
	e, ok := m.Export(name)
	return ok && e.Kind == KindFunc
}

// CustomSection returns the named custom section.
func (m *Module) CustomSection(name string) (CustomSection, bool) {
	for _, c := range m.Custom {
		if c.Name == name {
			return c, true
		}
	}
	return CustomSection{}, false
}

// Parse decodes wasm.
func Parse(wasm []byte) (m *Module, err error) {
	defer func() {
		// Every read is bounds-checked; this turns a bug into an error.
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("%w: internal error: %v", ErrMalformed, r)
		}
	}()
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, fmt.Errorf("%w: no \\0asm magic (not a WebAssembly binary)", ErrMalformed)
	}
	if v := wasm[4:8]; v[0] != 1 || v[1] != 0 || v[2] != 0 || v[3] != 0 {
		return nil, fmt.Errorf("%w: binary version %x, want 1 (a component or a newer format?)", ErrMalformed, v)
	}
	m = &Module{Size: len(wasm)}
	r := &reader{b: wasm, pos: 8}
	var types []FuncType
	var funcTypes []uint32 // type index of each defined function
	nImportedFuncs := 0
	for !r.eof() {
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		n, err := r.u32()
		if err != nil {
			return nil, err
		}
		start := r.pos
		data, err := r.bytes(int(n))
		if err != nil {
			return nil, fmt.Errorf("%w: section %d at offset %d: size %d past the end", ErrMalformed, id, start, n)
		}
		s := &reader{b: data, base: start}
		switch id {
		case 0:
			name, err := s.name()
			if err != nil {
				return nil, err
			}
			m.Custom = append(m.Custom, CustomSection{Name: name, Size: len(data), Data: s.b[s.pos:]})
		case 1:
			if types, err = parseTypes(s); err != nil {
				return nil, err
			}
		case 2:
			if err := parseImports(s, m, types); err != nil {
				return nil, err
			}
			for _, im := range m.Imports {
				if im.Kind == KindFunc {
					nImportedFuncs++
				}
			}
		case 3:
			cnt, err := s.u32()
			if err != nil {
				return nil, err
			}
			for i := uint32(0); i < cnt; i++ {
				t, err := s.u32()
				if err != nil {
					return nil, err
				}
				funcTypes = append(funcTypes, t)
			}
			m.Functions = int(cnt)
		case 5:
			cnt, err := s.u32()
			if err != nil {
				return nil, err
			}
			for i := uint32(0); i < cnt; i++ {
				mem, err := s.limits()
				if err != nil {
					return nil, err
				}
				m.Memories = append(m.Memories, mem)
			}
		case 7:
			if err := parseExports(s, m, types, funcTypes, nImportedFuncs); err != nil {
				return nil, err
			}
		case 8:
			m.HasStart = true
		}
	}
	return m, nil
}

func parseTypes(s *reader) ([]FuncType, error) {
	cnt, err := s.u32()
	if err != nil {
		return nil, err
	}
	var out []FuncType
	for i := uint32(0); i < cnt; i++ {
		form, err := s.byte()
		if err != nil {
			return nil, err
		}
		if form != 0x60 {
			return nil, s.errf("type %d: form 0x%02x is not a function type (GC proposal types are not supported)", i, form)
		}
		var ft FuncType
		for _, dst := range []*[]ValType{&ft.Params, &ft.Results} {
			n, err := s.u32()
			if err != nil {
				return nil, err
			}
			for j := uint32(0); j < n; j++ {
				b, err := s.byte()
				if err != nil {
					return nil, err
				}
				*dst = append(*dst, ValType(b))
			}
		}
		out = append(out, ft)
	}
	return out, nil
}

func typeAt(types []FuncType, i uint32) FuncType {
	if int(i) < len(types) {
		return types[i]
	}
	return FuncType{}
}

func parseImports(s *reader, m *Module, types []FuncType) error {
	cnt, err := s.u32()
	if err != nil {
		return err
	}
	for i := uint32(0); i < cnt; i++ {
		mod, err := s.name()
		if err != nil {
			return err
		}
		name, err := s.name()
		if err != nil {
			return err
		}
		k, err := s.byte()
		if err != nil {
			return err
		}
		im := Import{Module: mod, Name: name, Kind: Kind(k)}
		switch Kind(k) {
		case KindFunc:
			t, err := s.u32()
			if err != nil {
				return err
			}
			if int(t) >= len(types) {
				return s.errf("import %s.%s: type index %d out of range", mod, name, t)
			}
			im.Type = types[t]
		case KindTable:
			if _, err := s.byte(); err != nil {
				return err
			}
			if _, err := s.limits(); err != nil {
				return err
			}
		case KindMemory:
			mem, err := s.limits()
			if err != nil {
				return err
			}
			mem.Imported = true
			im.Memory = &mem
			m.Memories = append(m.Memories, mem)
		case KindGlobal:
			if _, err := s.bytes(2); err != nil { // valtype, mut
				return err
			}
		case KindTag:
			if _, err := s.byte(); err != nil {
				return err
			}
			if _, err := s.u32(); err != nil {
				return err
			}
		default:
			return s.errf("import %s.%s: unknown kind %d", mod, name, k)
		}
		m.Imports = append(m.Imports, im)
	}
	return nil
}

func parseExports(s *reader, m *Module, types []FuncType, funcTypes []uint32, nImported int) error {
	cnt, err := s.u32()
	if err != nil {
		return err
	}
	imported := m.FuncImports()
	for i := uint32(0); i < cnt; i++ {
		name, err := s.name()
		if err != nil {
			return err
		}
		k, err := s.byte()
		if err != nil {
			return err
		}
		idx, err := s.u32()
		if err != nil {
			return err
		}
		e := Export{Name: name, Kind: Kind(k)}
		if e.Kind == KindFunc {
			switch {
			case int(idx) < nImported:
				e.Type = imported[idx].Type
			case int(idx)-nImported < len(funcTypes):
				e.Type = typeAt(types, funcTypes[int(idx)-nImported])
			}
		}
		m.Exports = append(m.Exports, e)
	}
	return nil
}

type reader struct {
	b    []byte
	pos  int
	base int // offset of b in the module, for errors
}

func (r *reader) errf(format string, args ...any) error {
	return fmt.Errorf("%w: offset %d: %s", ErrMalformed, r.base+r.pos, fmt.Sprintf(format, args...))
}

func (r *reader) eof() bool { return r.pos >= len(r.b) }

func (r *reader) byte() (byte, error) {
	if r.pos >= len(r.b) {
		return 0, r.errf("unexpected end")
	}
	c := r.b[r.pos]
	r.pos++
	return c, nil
}

func (r *reader) bytes(n int) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.pos {
		return nil, r.errf("unexpected end")
	}
	out := r.b[r.pos : r.pos+n]
	r.pos += n
	return out, nil
}

func (r *reader) uleb(bits uint) (uint64, error) {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if shift >= bits+7 {
			return 0, r.errf("LEB128 too long")
		}
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, nil
		}
	}
}

func (r *reader) u32() (uint32, error) {
	v, err := r.uleb(32)
	if v > 0xffffffff {
		return 0, r.errf("u32 out of range")
	}
	return uint32(v), err
}

func (r *reader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(int(n))
	return string(b), err
}

func (r *reader) limits() (Memory, error) {
	flags, err := r.byte()
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	m.Shared = flags&2 != 0
	m.Memory64 = flags&4 != 0
	bits := uint(32)
	if m.Memory64 {
		bits = 64
	}
	if m.Min, err = r.uleb(bits); err != nil {
		return m, err
	}
	if flags&1 != 0 {
		m.HasMax = true
		if m.Max, err = r.uleb(bits); err != nil {
			return m, err
		}
	}
	return m, nil
}
