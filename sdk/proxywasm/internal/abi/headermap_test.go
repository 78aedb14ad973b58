package abi

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

func TestEncodeMapSpecExample(t *testing.T) {
	// The spec's example map {{"a": "1"}, {"b": "22"}}.
	want := []byte{
		2, 0, 0, 0,
		1, 0, 0, 0, 1, 0, 0, 0,
		1, 0, 0, 0, 2, 0, 0, 0,
		'a', 0, '1', 0, 'b', 0, '2', '2', 0,
	}
	got := EncodeMap([][2]string{{"a", "1"}, {"b", "22"}})
	if !bytes.Equal(got, want) {
		t.Fatalf("EncodeMap = %v, want %v", got, want)
	}
}

func TestMapRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		pairs [][2]string
	}{
		{"empty", nil},
		{"pseudo headers", [][2]string{{":method", "GET"}, {":path", "/a?b=c"}, {":authority", "x"}}},
		{"repeated names and empty values", [][2]string{{"a", ""}, {"a", "2"}, {"", "v"}}},
		{"binary value", [][2]string{{"k", "\xff\x01"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeMap(EncodeMap(tt.pairs))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.pairs) {
				t.Errorf("round trip = %q, want %q", got, tt.pairs)
			}
		})
	}
}

func TestDecodeMapMalformed(t *testing.T) {
	valid := EncodeMap([][2]string{{"ab", "cd"}})
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"single NUL is empty", []byte{0}, true},
		{"trailing padding tolerated", append(slices.Clone(valid), 0, 0), true},
		{"short count", []byte{1, 0}, false},
		{"count too large", []byte{200, 0, 0, 0, 1, 2, 3}, false},
		{"truncated data", valid[:len(valid)-2], false},
		{"missing NUL", func() []byte { b := slices.Clone(valid); b[len(b)-1] = 'x'; return b }(), false},
		{"key length past data", []byte{1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 'a', 0, 0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeMap(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrMalformedMap) {
				t.Errorf("err %v does not wrap ErrMalformedMap", err)
			}
		})
	}
}

func FuzzDecodeMap(f *testing.F) {
	f.Add(EncodeMap([][2]string{{"a", "1"}, {"b", "22"}}))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, in []byte) {
		pairs, err := DecodeMap(in)
		if err != nil {
			return
		}
		again, err := DecodeMap(EncodeMap(pairs))
		if err != nil || !slices.Equal(again, pairs) {
			t.Fatalf("re-encoding %q: %q, %v", pairs, again, err)
		}
	})
}

func TestDecodeMapStringAllocatesOnlyThePairs(t *testing.T) {
	s := string(EncodeMap([][2]string{{":path", "/"}, {"user-agent", "x"}, {"accept", "*/*"}}))
	if n := testing.AllocsPerRun(100, func() { _, _ = DecodeMapString(s) }); n != 1 {
		t.Errorf("DecodeMapString: %v allocations, want 1", n)
	}
}
