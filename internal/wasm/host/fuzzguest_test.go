package host

// guestImport is one env function the fuzz guest imports: params i32
// parameters, those listed in i64 being i64 instead.
type guestImport struct {
	name   string
	params int
	i64    []int
}

// guestLayout places the fuzz guest's state in its memory: ops call slots
// of opSize bytes from opBase (u32 import index, 0xff or any unknown index
// for none; eight u32 arguments; u32 status written back), and the
// allocator's words (the pointer it returns, the bytes and the number of
// allocations asked for).
type guestLayout struct {
	imports                      []guestImport
	ops, opBase, opSize          uint32
	mallocAt, mallocSum, mallocN uint32
}

// guestModule assembles the fuzz guest, a proxy-wasm 0.2.1 module written
// directly in the binary format (no toolchain needed):
//
//	(memory (export "memory") 1 1)
//	(func (export "proxy_on_memory_allocate") (param i32) (result i32)
//	  mallocSum += n; mallocN++; return mallocAt)
//	(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
//	  for each op slot: if fn == k { status = import_k(args...) } ...; return 0)
//
// plus empty proxy_on_context_create, proxy_on_vm_start and
// proxy_on_configure (returning true) and the ABI version marker.
func buildGuest(l guestLayout) []byte {
	var (
		types   [][]byte // encoded function types
		typeIdx = map[string]uint32{}
	)
	typeOf := func(params []byte, results []byte) uint32 {
		t := append([]byte{0x60}, uleb(uint32(len(params)))...)
		t = append(t, params...)
		t = append(t, uleb(uint32(len(results)))...)
		t = append(t, results...)
		if i, ok := typeIdx[string(t)]; ok {
			return i
		}
		typeIdx[string(t)] = uint32(len(types))
		types = append(types, t)
		return uint32(len(types) - 1)
	}
	const i32, i64 = 0x7f, 0x7e
	importType := make([]uint32, len(l.imports))
	for i, im := range l.imports {
		ps := make([]byte, im.params)
		for j := range ps {
			ps[j] = i32
		}
		for _, j := range im.i64 {
			ps[j] = i64
		}
		importType[i] = typeOf(ps, []byte{i32})
	}
	nImports := uint32(len(l.imports))

	// Defined functions, in order: malloc, on_context_create, on_vm_start,
	// on_configure, on_request_headers, abi marker.
	type fn struct {
		name string
		typ  uint32
		body []byte
	}
	load := func(off uint32) []byte { // i32.load offset=off from address 0
		return append([]byte{0x41, 0x00, 0x28, 0x02}, uleb(off)...)
	}
	store := func(off uint32) []byte { return append([]byte{0x36, 0x02}, uleb(off)...) }
	var malloc []byte
	malloc = append(malloc, 0x41, 0x00)
	malloc = append(malloc, load(l.mallocSum)...)
	malloc = append(malloc, 0x20, 0x00, 0x6a) // local.get 0; i32.add
	malloc = append(malloc, store(l.mallocSum)...)
	malloc = append(malloc, 0x41, 0x00)
	malloc = append(malloc, load(l.mallocN)...)
	malloc = append(malloc, 0x41, 0x01, 0x6a)
	malloc = append(malloc, store(l.mallocN)...)
	malloc = append(malloc, load(l.mallocAt)...)

	var dispatch []byte
	for k := uint32(0); k < l.ops; k++ {
		base := l.opBase + k*l.opSize
		for i, im := range l.imports {
			dispatch = append(dispatch, load(base)...)
			dispatch = append(dispatch, 0x41)
			dispatch = append(dispatch, sleb(int32(i))...)
			dispatch = append(dispatch, 0x46, 0x04, 0x40) // i32.eq; if
			dispatch = append(dispatch, 0x41, 0x00)       // status address
			for j := 0; j < im.params; j++ {
				dispatch = append(dispatch, load(base+4+4*uint32(j))...)
				for _, x := range im.i64 {
					if x == j {
						dispatch = append(dispatch, 0xad) // i64.extend_i32_u
					}
				}
			}
			dispatch = append(dispatch, 0x10)
			dispatch = append(dispatch, uleb(uint32(i))...)
			dispatch = append(dispatch, store(base+36)...)
			dispatch = append(dispatch, 0x0b) // end
		}
	}
	dispatch = append(dispatch, 0x41, 0x00) // Continue

	fns := []fn{
		{"proxy_on_memory_allocate", typeOf([]byte{i32}, []byte{i32}), malloc},
		{"proxy_on_context_create", typeOf([]byte{i32, i32}, nil), nil},
		{"proxy_on_vm_start", typeOf([]byte{i32, i32}, []byte{i32}), []byte{0x41, 0x01}},
		{"proxy_on_configure", typeOf([]byte{i32, i32}, []byte{i32}), []byte{0x41, 0x01}},
		{"proxy_on_request_headers", typeOf([]byte{i32, i32, i32}, []byte{i32}), dispatch},
		{"proxy_abi_version_0_2_1", typeOf(nil, nil), nil},
	}

	var m []byte
	m = append(m, 0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00)
	section := func(id byte, items [][]byte) {
		var b []byte
		b = append(b, uleb(uint32(len(items)))...)
		for _, it := range items {
			b = append(b, it...)
		}
		m = append(m, id)
		m = append(m, uleb(uint32(len(b)))...)
		m = append(m, b...)
	}
	name := func(s string) []byte { return append(uleb(uint32(len(s))), s...) }
	section(1, types)
	var imps [][]byte
	for i, im := range l.imports {
		e := append(name("env"), name(im.name)...)
		e = append(e, 0x00)
		e = append(e, uleb(importType[i])...)
		imps = append(imps, e)
	}
	section(2, imps)
	var decl [][]byte
	for _, f := range fns {
		decl = append(decl, uleb(f.typ))
	}
	section(3, decl)
	section(5, [][]byte{{0x01, 0x01, 0x01}}) // one memory, min 1 max 1 page
	exps := [][]byte{append(name("memory"), 0x02, 0x00)}
	for i, f := range fns {
		exps = append(exps, append(append(name(f.name), 0x00), uleb(nImports+uint32(i))...))
	}
	section(7, exps)
	var code [][]byte
	for _, f := range fns {
		body := append([]byte{0x00}, f.body...) // no locals
		body = append(body, 0x0b)
		code = append(code, append(uleb(uint32(len(body))), body...))
	}
	section(10, code)
	return m
}

func uleb(v uint32) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			c |= 0x80
		}
		b = append(b, c)
		if v == 0 {
			return b
		}
	}
}

func sleb(v int32) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
