// Package httpcore is Heimdall's engine-neutral model of an HTTP exchange.
//
// The HTTP engines (fasthttp for HTTP/1.1, x/net/http2 for HTTP/2) translate
// their own request and response objects into the types here, and everything
// above them — the filter chain, the wasm plugin host, the access log — sees
// only this model. Header names are stored lower-case, as HTTP/2 and the
// proxy-wasm ABI require, and values are raw bytes copied into storage owned by
// the Header so that they outlive the engine's recycled buffers.
package httpcore

import "bytes"

// Field is one header line. Name is lower-case.
type Field struct {
	Name  []byte
	Value []byte
}

// Header is an ordered multi-map of header fields.
//
// The zero value is empty and ready to use. Slices returned by accessors stay
// valid until the Header is Reset; mutations never modify bytes previously
// returned (they append new copies), so a caller may hold a value across an
// Add or Set.
type Header struct {
	fields []Field
	arena  []byte
}

// Reset empties h, keeping its storage for reuse.
func (h *Header) Reset() {
	clear(h.fields)
	h.fields = h.fields[:0]
	h.arena = h.arena[:0]
}

// Len is the number of fields.
func (h *Header) Len() int { return len(h.fields) }

// At returns the i-th field.
func (h *Header) At(i int) (name, value []byte) {
	f := h.fields[i]
	return f.Name, f.Value
}

// Fields returns the fields in order. The slice must not be modified.
func (h *Header) Fields() []Field { return h.fields }

// ByteSize is the sum of the lengths of all names and values.
func (h *Header) ByteSize() int {
	n := 0
	for _, f := range h.fields {
		n += len(f.Name) + len(f.Value)
	}
	return n
}

// store copies b into the arena and returns the stored copy. When the arena
// has to grow, a new backing array is used and earlier copies stay valid.
func store[T string | []byte](h *Header, b T, lower bool) []byte {
	if cap(h.arena)-len(h.arena) < len(b) {
		n := 2*cap(h.arena) + len(b)
		if n < 256 {
			n = 256
		}
		h.arena = make([]byte, 0, n)
	}
	start := len(h.arena)
	h.arena = append(h.arena, b...)
	out := h.arena[start:len(h.arena):len(h.arena)]
	if lower {
		toLower(out)
	}
	return out
}

func toLower(b []byte) {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
}

// equalFold reports whether the stored lower-case name equals name, ignoring
// ASCII case in name.
func equalFold[T string | []byte](stored []byte, name T) bool {
	if len(stored) != len(name) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if stored[i] != c {
			return false
		}
	}
	return true
}

// Add appends a field. The name is lower-cased; both are copied.
func (h *Header) Add(name, value []byte) {
	h.fields = append(h.fields, Field{Name: store(h, name, true), Value: store(h, value, false)})
}

// AddString is Add for strings.
func (h *Header) AddString(name, value string) {
	h.fields = append(h.fields, Field{Name: store(h, name, true), Value: store(h, value, false)})
}

// Get returns the first value of name (case-insensitive).
func (h *Header) Get(name string) ([]byte, bool) {
	for _, f := range h.fields {
		if equalFold(f.Name, name) {
			return f.Value, true
		}
	}
	return nil, false
}

// Values calls fn for every value of name, in order.
func (h *Header) Values(name string, fn func(value []byte)) {
	for _, f := range h.fields {
		if equalFold(f.Name, name) {
			fn(f.Value)
		}
	}
}

// Has reports whether name is present.
func (h *Header) Has(name string) bool {
	_, ok := h.Get(name)
	return ok
}

// Set replaces all values of name with a single value, keeping the position of
// the first occurrence, or appends it when name is absent.
func (h *Header) Set(name, value []byte) { set(h, name, value) }

// SetString is Set for strings.
func (h *Header) SetString(name, value string) { set(h, name, value) }

func set[T string | []byte](h *Header, name, value T) {
	found := -1
	out := h.fields[:0]
	for i, f := range h.fields {
		if equalFold(f.Name, name) {
			if found >= 0 {
				continue
			}
			found = i
			f.Value = store(h, value, false)
		}
		out = append(out, f)
	}
	clear(h.fields[len(out):])
	h.fields = out
	if found < 0 {
		h.fields = append(h.fields, Field{Name: store(h, name, true), Value: store(h, value, false)})
	}
}

// Del removes every field called name.
func (h *Header) Del(name string) { del(h, name) }

func del[T string | []byte](h *Header, name T) {
	out := h.fields[:0]
	for _, f := range h.fields {
		if !equalFold(f.Name, name) {
			out = append(out, f)
		}
	}
	clear(h.fields[len(out):])
	h.fields = out
}

// CopyFrom replaces h's content with a copy of src.
func (h *Header) CopyFrom(src *Header) {
	h.Reset()
	for _, f := range src.fields {
		h.Add(f.Name, f.Value)
	}
}

// HasToken reports whether a comma-separated header (e.g. Connection) holds
// token, ignoring ASCII case and surrounding spaces.
func (h *Header) HasToken(name, token string) bool {
	found := false
	h.Values(name, func(v []byte) {
		for len(v) > 0 && !found {
			var part []byte
			if i := bytes.IndexByte(v, ','); i >= 0 {
				part, v = v[:i], v[i+1:]
			} else {
				part, v = v, nil
			}
			if bytes.EqualFold(bytes.TrimSpace(part), []byte(token)) {
				found = true
			}
		}
	})
	return found
}
