package inspect

import (
	"errors"
	"testing"
)

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"not wasm", []byte("hello world")},
		{"component", []byte("\x00asm\x0d\x00\x01\x00")},
		{"section past end", []byte("\x00asm\x01\x00\x00\x00\x01\x10\x00")},
		{"import type out of range", []byte("\x00asm\x01\x00\x00\x00\x01\x01\x00\x02\x07\x01\x01m\x01n\x00\x05")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse(tt.b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err %v", err)
			}
		})
	}
}

func TestParseModule(t *testing.T) {
	// (module (type (func (param i32) (result i32))) (import "env" "f" (func (type 0)))
	//   (memory 2 10) (func (type 0) local.get 0) (export "g" (func 1)) (export "memory" (memory 0)))
	// plus a custom section "x".
	b := []byte("\x00asm\x01\x00\x00\x00" +
		"\x01\x06\x01\x60\x01\x7f\x01\x7f" + // type
		"\x02\x09\x01\x03env\x01f\x00\x00" + // import
		"\x03\x02\x01\x00" + // function
		"\x05\x04\x01\x01\x02\x0a" + // memory min 2 max 10
		"\x07\x0e\x02\x01g\x00\x01\x06memory\x02\x00" + // exports
		"\x0a\x06\x01\x04\x00\x20\x00\x0b" + // code
		"\x00\x03\x01xy") // custom "x" with data "y"
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Imports) != 1 || m.Imports[0].Module != "env" || m.Imports[0].Type.String() != "(i32) -> (i32)" {
		t.Fatalf("imports %+v", m.Imports)
	}
	if e, ok := m.Export("g"); !ok || e.Kind != KindFunc || e.Type.String() != "(i32) -> (i32)" {
		t.Fatalf("export g %+v", e)
	}
	if len(m.Memories) != 1 || m.Memories[0].Min != 2 || !m.Memories[0].HasMax || m.Memories[0].Max != 10 {
		t.Fatalf("memories %+v", m.Memories)
	}
	if c, ok := m.CustomSection("x"); !ok || string(c.Data) != "y" {
		t.Fatalf("custom %+v", c)
	}
}
