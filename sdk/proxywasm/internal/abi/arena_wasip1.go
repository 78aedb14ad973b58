//go:build wasip1

package abi

import (
	"runtime"
	"unsafe"
)

// arena keeps every buffer handed to the host through
// proxy_on_memory_allocate reachable, so the Go GC cannot free it while the
// host writes into it or before the guest reads it back.
//
// Allocations live until the outermost exported callback that was running
// when they were made returns (see Enter/Leave); the guest takes a buffer
// back out of the arena when a host call returns its address, after which
// the ordinary GC rules apply to the slice it got. Nothing survives a
// top-level callback, so there is no per-request growth.
type arena struct {
	allocs [][]byte
	depth  int
	calls  uint32 // outermost callbacks so far, for yieldEvery
}

// yieldEvery is how many outermost callbacks run between two yields to the
// Go scheduler (see Leave). A yield is not free on a host that can abort a
// runaway guest: wazero's WithCloseOnContextDone makes every wasm loop
// header, and Go compiles one into every function that calls another, exit
// to the host to check for termination, and the scheduler is call-heavy.
// Measured on wazero 1.12 with the headers plugin: a yield per callback was
// ~45% of the CPU of a request (100 µs -> 57 µs with one per 16), while the
// GC still gets to run every few requests.
const yieldEvery = 16

// mem is the one arena of the module: proxy_on_memory_allocate is a
// module-level export, so its state cannot hang off anything narrower.
var mem arena

// proxyOnMemoryAllocate is proxy_on_memory_allocate: the host asks for size
// bytes to write a result into.
//
//go:wasmexport proxy_on_memory_allocate
func proxyOnMemoryAllocate(size uint32) unsafe.Pointer {
	n := size
	if n == 0 {
		n = 1 // a valid, non-zero address even for empty results
	}
	b := make([]byte, n)
	mem.allocs = append(mem.allocs, b)
	return unsafe.Pointer(&b[0])
}

// Enter marks the start of an exported callback and returns the mark to
// pass to Leave.
func Enter() int {
	mem.depth++
	if mem.depth == 1 {
		return 0
	}
	return len(mem.allocs)
}

// Leave releases the allocations made since the matching Enter. The
// outermost callback releases everything, including allocations the host
// made outside any callback.
func Leave(mark int) {
	mem.depth--
	if mem.depth <= 0 {
		mem.depth = 0
		mark = 0
	}
	if mark > len(mem.allocs) {
		return
	}
	clear(mem.allocs[mark:])
	mem.allocs = mem.allocs[:mark]
	if mark == 0 && cap(mem.allocs) > 64 {
		mem.allocs = nil // do not pin a large backing array after a burst
	}
	if mem.depth == 0 {
		mem.calls++
		if mem.calls%yieldEvery != 0 {
			return
		}
		// Go does not run other goroutines after an export returns, and
		// the GC's background mark workers are goroutines: without a yield
		// a started GC cycle never finishes and the heap grows without
		// bound. Yielding every yieldEvery callbacks lets them run; the
		// heap can only overshoot by what that many callbacks allocate.
		runtime.Gosched()
	}
}

// scratch is where a host that knows the Heimdall extension below writes a
// host call's result instead of asking proxy_on_memory_allocate for memory:
// that is a call from the host back into the guest for every result, which
// costs about as much as a callback. A result in scratch is only valid until
// the next host call: the SDK turns it into what it returns (a string, a
// copy, decoded pairs) at once, with Own or String. Hosts that do not know
// the extension never look at it and keep the standard ABI.
var scratch [scratchSize]byte

const scratchSize = 4096

// scratchDesc is the (address, size) of scratch, little-endian u32s.
var scratchDesc [2]uint32

// heimdallScratchV1 is the extension: it returns the address of 8 bytes, the
// address and size of a buffer the host may write one result into (the
// result of the host call that is returning). The host calls it once per
// instance.
//
//go:wasmexport heimdall_scratch_v1
func heimdallScratchV1() unsafe.Pointer {
	scratchDesc[0] = uint32(uintptr(unsafe.Pointer(&scratch[0])))
	scratchDesc[1] = scratchSize
	return unsafe.Pointer(&scratchDesc[0])
}

// take returns the size bytes at address ptr as a slice: a view of scratch,
// or the allocation the host got from proxy_on_memory_allocate, which is
// then the caller's (the arena drops its reference). ok is false if ptr lies
// in neither.
func take(ptr, size uint32) (b []byte, ok bool) {
	if size == 0 {
		return nil, true
	}
	addr := uintptr(ptr)
	if base := uintptr(unsafe.Pointer(&scratch[0])); addr >= base && addr-base+uintptr(size) <= scratchSize {
		off := addr - base
		return scratch[off : off+uintptr(size) : off+uintptr(size)], true
	}
	for i := len(mem.allocs) - 1; i >= 0; i-- {
		a := mem.allocs[i]
		if a == nil {
			continue
		}
		base := uintptr(unsafe.Pointer(&a[0]))
		if addr < base || addr-base+uintptr(size) > uintptr(len(a)) {
			continue
		}
		off := addr - base
		if off == 0 && uintptr(size) == uintptr(len(a)) {
			mem.allocs[i] = nil
		}
		return a[off : off+uintptr(size) : off+uintptr(size)], true
	}
	return nil, false
}

// inScratch reports whether b is (part of) scratch.
func inScratch(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	base := uintptr(unsafe.Pointer(&scratch[0]))
	return p >= base && p-base < scratchSize
}

// Own returns a host result the caller may keep: b itself, unless it is in
// scratch, then a copy.
func Own(b []byte) []byte {
	if inScratch(b) {
		return append([]byte(nil), b...)
	}
	return b
}

// String returns a host result as a string, with at most one allocation: a
// result in scratch is copied; an arena buffer belongs to the caller once
// taken and nothing else writes to it, so the string is built over it.
// Call it only once per result, and do not hand out b as well.
func String(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if inScratch(b) {
		return string(b)
	}
	return unsafe.String(&b[0], len(b))
}

// Epoch identifies the running outermost callback: it changes between two
// outermost callbacks and not within one. in is false outside a callback.
// Values the host reports for the whole callback (its log level) can be
// cached under it.
func Epoch() (epoch uint32, in bool) { return mem.calls, mem.depth > 0 }
