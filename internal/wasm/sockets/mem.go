package sockets

import (
	"encoding/binary"

	"github.com/tetratelabs/wazero/api"
)

// mem reads and writes guest memory, remembering whether any access was out
// of range so that a host function can check once and answer EFAULT.
type mem struct {
	m     api.Memory
	fault bool
}

func memOf(mod api.Module) *mem {
	m := mod.Memory()
	return &mem{m: m, fault: m == nil}
}

func (x *mem) u16(off uint32) uint16 {
	if x.fault {
		return 0
	}
	b, ok := x.m.Read(off, 2)
	if !ok {
		x.fault = true
		return 0
	}
	return binary.LittleEndian.Uint16(b)
}

func (x *mem) u32(off uint32) uint32 {
	if x.fault {
		return 0
	}
	v, ok := x.m.ReadUint32Le(off)
	if !ok {
		x.fault = true
	}
	return v
}

func (x *mem) u64(off uint32) uint64 {
	if x.fault {
		return 0
	}
	v, ok := x.m.ReadUint64Le(off)
	if !ok {
		x.fault = true
	}
	return v
}

func (x *mem) putU8(off uint32, v uint8) {
	if !x.fault && !x.m.WriteByte(off, v) {
		x.fault = true
	}
}

func (x *mem) putU16(off uint32, v uint16) {
	if !x.fault && !x.m.WriteUint16Le(off, v) {
		x.fault = true
	}
}

func (x *mem) putU32(off uint32, v uint32) {
	if !x.fault && !x.m.WriteUint32Le(off, v) {
		x.fault = true
	}
}

func (x *mem) putU64(off uint32, v uint64) {
	if !x.fault && !x.m.WriteUint64Le(off, v) {
		x.fault = true
	}
}

// bytes returns a view of guest memory; writes to it reach the guest.
func (x *mem) bytes(off, n uint32) []byte {
	if x.fault {
		return nil
	}
	b, ok := x.m.Read(off, n)
	if !ok {
		x.fault = true
	}
	return b
}

func (x *mem) write(off uint32, b []byte) {
	if !x.fault && !x.m.Write(off, b) {
		x.fault = true
	}
}

// errno answers EFAULT if an access was out of range, else success.
func (x *mem) errno() errno {
	if x.fault {
		return errnoFault
	}
	return errnoSuccess
}

// maxIovecs bounds an iovec array (IOV_MAX).
const maxIovecs = 1024

// iovecs returns views of the buffers of an iovec array.
func (x *mem) iovecs(ptr, n uint32) [][]byte {
	if n > maxIovecs {
		x.fault = true
		return nil
	}
	bufs := make([][]byte, 0, n)
	for i := uint32(0); i < n; i++ {
		base := x.u32(ptr + 8*i)
		size := x.u32(ptr + 8*i + 4)
		b := x.bytes(base, size)
		if x.fault {
			return nil
		}
		bufs = append(bufs, b)
	}
	return bufs
}

// address decodes a WasmEdge address: *addr is {u32 buf, u32 buf_len}. A
// buffer of 4 or 16 bytes holds the raw IP (V1); a larger one starts with a
// little-endian u16 family (1 inet4, 2 inet6) followed by the IP (V2).
func (x *mem) address(ptr uint32) (ip []byte, e errno) {
	buf := x.u32(ptr)
	n := x.u32(ptr + 4)
	b := x.bytes(buf, n)
	if x.fault {
		return nil, errnoFault
	}
	switch {
	case n == 4 || n == 16:
		return b, errnoSuccess
	case n >= 6 && binary.LittleEndian.Uint16(b) == afInet4:
		return b[2:6], errnoSuccess
	case n >= 18 && binary.LittleEndian.Uint16(b) == afInet6:
		return b[2:18], errnoSuccess
	}
	return nil, errnoInval
}

// putAddress writes ip into a WasmEdge address buffer in the format its size
// asks for (see address); familyPtr, when non-zero, receives the V1 address
// type (4 or 6).
func (x *mem) putAddress(ptr uint32, ip []byte) errno {
	buf := x.u32(ptr)
	n := x.u32(ptr + 4)
	if x.fault {
		return errnoFault
	}
	fam := uint16(afInet4)
	if len(ip) == 16 {
		fam = afInet6
	}
	switch {
	case n == 16 || (n == 4 && len(ip) == 4):
		out := make([]byte, n)
		copy(out, ip)
		x.write(buf, out)
	case n >= uint32(2+len(ip)):
		out := make([]byte, 2+len(ip))
		binary.LittleEndian.PutUint16(out, fam)
		copy(out[2:], ip)
		x.write(buf, out)
	default:
		return errnoInval
	}
	return x.errno()
}
