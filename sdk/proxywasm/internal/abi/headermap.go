package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// ErrMalformedMap reports a serialized header map that does not follow the
// ABI layout.
var ErrMalformedMap = errors.New("malformed serialized header map")

// EncodeMap serializes pairs in the ABI layout: a little-endian u32 count,
// then a u32 key length and a u32 value length per pair, then each key and
// each value followed by a NUL byte. An empty map encodes as an empty slice.
func EncodeMap(pairs [][2]string) []byte { return AppendMap(nil, pairs) }

// AppendMap appends the encoding of pairs (see EncodeMap) to dst.
func AppendMap(dst []byte, pairs [][2]string) []byte {
	if len(pairs) == 0 {
		return dst
	}
	size := 4 + 8*len(pairs)
	for _, p := range pairs {
		size += len(p[0]) + len(p[1]) + 2
	}
	dst = slices.Grow(dst, size)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(pairs)))
	for _, p := range pairs {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(p[0])))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(p[1])))
	}
	for _, p := range pairs {
		dst = append(append(dst, p[0]...), 0)
		dst = append(append(dst, p[1]...), 0)
	}
	return dst
}

// DecodeMap parses a serialized header map. Empty input, or the single NUL
// byte some hosts send for an empty map, decodes to nil. The keys and values
// share one copy of buf.
func DecodeMap(buf []byte) ([][2]string, error) { return DecodeMapString(string(buf)) }

// DecodeMapString is DecodeMap over a string: the keys and values are
// substrings of s, so the pairs slice is the only allocation.
func DecodeMapString(s string) ([][2]string, error) {
	if len(s) == 0 || (len(s) == 1 && s[0] == 0) {
		return nil, nil
	}
	if len(s) < 4 {
		return nil, fmt.Errorf("%w: %d bytes, no count", ErrMalformedMap, len(s))
	}
	n := u32(s)
	// Each pair needs at least 8 bytes of sizes and 2 NULs.
	if uint64(n)*10 > uint64(len(s)-4) {
		return nil, fmt.Errorf("%w: count %d does not fit %d bytes", ErrMalformedMap, n, len(s))
	}
	sizes := s[4 : 4+8*int(n)]
	data := s[4+8*int(n):]
	pairs := make([][2]string, n)
	for i := range pairs {
		kl := uint64(u32(sizes[8*i:]))
		vl := uint64(u32(sizes[8*i+4:]))
		if kl+vl+2 > uint64(len(data)) {
			return nil, fmt.Errorf("%w: pair %d overruns the data", ErrMalformedMap, i)
		}
		pairs[i][0] = data[:kl]
		if data[kl] != 0 {
			return nil, fmt.Errorf("%w: key %d not NUL-terminated", ErrMalformedMap, i)
		}
		data = data[kl+1:]
		pairs[i][1] = data[:vl]
		if data[vl] != 0 {
			return nil, fmt.Errorf("%w: value %d not NUL-terminated", ErrMalformedMap, i)
		}
		data = data[vl+1:]
	}
	// Trailing bytes are tolerated: the pairs are complete, and being lenient
	// here keeps plugins working on hosts that pad their buffers.
	return pairs, nil
}

// u32 reads a little-endian u32 from the start of s.
func u32(s string) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}
