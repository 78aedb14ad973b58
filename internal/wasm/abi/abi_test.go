package abi

import (
	"bytes"
	"testing"
)

func TestMapRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		pairs []Pair
	}{
		{"empty", nil},
		{"one", []Pair{{[]byte(":path"), []byte("/x")}}},
		{"several", []Pair{{[]byte("a"), []byte("")}, {[]byte(""), []byte("v")}, {[]byte("host"), []byte("example.com")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := EncodePairs(tt.pairs)
			if got, want := len(b), MapSize(len(tt.pairs), dataLen(tt.pairs)); got != want {
				t.Fatalf("size %d, MapSize %d", got, want)
			}
			got, err := DecodePairs(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.pairs) {
				t.Fatalf("got %d pairs", len(got))
			}
			for i := range got {
				if !bytes.Equal(got[i].Key, tt.pairs[i].Key) || !bytes.Equal(got[i].Value, tt.pairs[i].Value) {
					t.Errorf("pair %d = %q, want %q", i, got[i], tt.pairs[i])
				}
			}
		})
	}
}

func dataLen(p []Pair) int {
	n := 0
	for _, x := range p {
		n += len(x.Key) + len(x.Value)
	}
	return n
}

func TestDecodeMalformed(t *testing.T) {
	for _, b := range [][]byte{
		{1, 0, 0},
		{0xff, 0xff, 0xff, 0xff},
		{1, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 'a', 0},
	} {
		if err := DecodeMap(b, func(k, v []byte) {}); err == nil {
			t.Errorf("%v: no error", b)
		}
	}
}

func TestDetectVersion(t *testing.T) {
	tests := []struct {
		name   string
		export string
		want   Version
	}{
		{"0.2.1", MarkerV021, Version021},
		{"0.2.0", MarkerV020, Version020},
		{"0.1.0", MarkerV010, Version010},
		{"higress", MarkerHigress, Version021},
		{"none", "foo", VersionUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _ := DetectVersion(func(n string) bool { return n == tt.export })
			if v != tt.want {
				t.Errorf("got %v want %v", v, tt.want)
			}
		})
	}
}
