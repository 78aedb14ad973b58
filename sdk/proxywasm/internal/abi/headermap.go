package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformedMap reports a serialized header map that does not follow the
// ABI layout.
var ErrMalformedMap = errors.New("malformed serialized header map")

// EncodeMap serializes pairs in the ABI layout: a little-endian u32 count,
// then a u32 key length and a u32 value length per pair, then each key and
// each value followed by a NUL byte. An empty map encodes as an empty slice.
func EncodeMap(pairs [][2]string) []byte {
	if len(pairs) == 0 {
		return nil
	}
	size := 4 + 8*len(pairs)
	for _, p := range pairs {
		size += len(p[0]) + len(p[1]) + 2
	}
	buf := make([]byte, size)
	binary.LittleEndian.PutUint32(buf, uint32(len(pairs)))
	off := 4
	for _, p := range pairs {
		binary.LittleEndian.PutUint32(buf[off:], uint32(len(p[0])))
		binary.LittleEndian.PutUint32(buf[off+4:], uint32(len(p[1])))
		off += 8
	}
	for _, p := range pairs {
		off += copy(buf[off:], p[0])
		off++ // NUL, already zero
		off += copy(buf[off:], p[1])
		off++
	}
	return buf
}

// DecodeMap parses a serialized header map. Empty input, or the single NUL
// byte some hosts send for an empty map, decodes to nil.
func DecodeMap(buf []byte) ([][2]string, error) {
	if len(buf) == 0 || (len(buf) == 1 && buf[0] == 0) {
		return nil, nil
	}
	if len(buf) < 4 {
		return nil, fmt.Errorf("%w: %d bytes, no count", ErrMalformedMap, len(buf))
	}
	n := binary.LittleEndian.Uint32(buf)
	// Each pair needs at least 8 bytes of sizes and 2 NULs.
	if uint64(n)*10 > uint64(len(buf)-4) {
		return nil, fmt.Errorf("%w: count %d does not fit %d bytes", ErrMalformedMap, n, len(buf))
	}
	sizes := buf[4 : 4+8*int(n)]
	data := buf[4+8*int(n):]
	pairs := make([][2]string, n)
	for i := range pairs {
		kl := uint64(binary.LittleEndian.Uint32(sizes[8*i:]))
		vl := uint64(binary.LittleEndian.Uint32(sizes[8*i+4:]))
		if kl+vl+2 > uint64(len(data)) {
			return nil, fmt.Errorf("%w: pair %d overruns the data", ErrMalformedMap, i)
		}
		pairs[i][0] = string(data[:kl])
		if data[kl] != 0 {
			return nil, fmt.Errorf("%w: key %d not NUL-terminated", ErrMalformedMap, i)
		}
		data = data[kl+1:]
		pairs[i][1] = string(data[:vl])
		if data[vl] != 0 {
			return nil, fmt.Errorf("%w: value %d not NUL-terminated", ErrMalformedMap, i)
		}
		data = data[vl+1:]
	}
	// Trailing bytes are tolerated: the pairs are complete, and being lenient
	// here keeps plugins working on hosts that pad their buffers.
	return pairs, nil
}
