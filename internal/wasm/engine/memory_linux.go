//go:build linux

package engine

import (
	"sync"
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// mmapMemory backs one instance's linear memory with an anonymous mapping
// of the memory's maximum size, reserved without swap (MAP_NORESERVE): only
// the pages the guest touches become resident. Growing is a new length on
// the same mapping, not a copy (wazero's default allocator appends to a Go
// slice, which copies the whole memory on each reallocation and leaves the
// old arrays to the garbage collector). Freeing gives the pages back to the
// kernel at once (madvise MADV_DONTNEED), so a discarded instance does not
// leave its memory in the Go heap for the scavenger to return over minutes.
// The mapping itself is kept for the slot's next instance (see mapPool): a
// stale view of a freed memory then reads zeros instead of faulting.
type mmapMemory struct {
	pool *mapPool
	m    []byte // the whole mapping (len = max)
	size uint64 // bytes in use (charged to the pool)
}

func (m *mmapMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.m)) {
		return nil
	}
	if size > m.size {
		if !m.pool.charge(size - m.size) {
			return nil // the pool's memory budget is spent: memory.grow fails
		}
	} else {
		m.pool.uncharge(m.size - size)
	}
	m.size = size
	return m.m[:size:size]
}

func (m *mmapMemory) Free() {
	if m.m == nil {
		return
	}
	m.pool.uncharge(m.size)
	m.pool.put(m.m, m.size)
	m.m, m.size = nil, 0
}

// mapPool keeps freed mappings of one engine for reuse and accounts the
// bytes of linear memory its instances use.
type mapPool struct {
	budget uint64 // 0 = none
	mu     sync.Mutex
	used   uint64
	free   [][]byte
	closed bool
}

func (p *mapPool) charge(n uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.budget > 0 && p.used+n > p.budget {
		return false
	}
	p.used += n
	return true
}

func (p *mapPool) uncharge(n uint64) {
	p.mu.Lock()
	p.used -= min(n, p.used)
	p.mu.Unlock()
}

func (p *mapPool) inUse() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.used
}

func (p *mapPool) put(m []byte, touched uint64) {
	if touched > 0 {
		_ = syscall.Madvise(m[:touched], syscall.MADV_DONTNEED)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = syscall.Munmap(m)
		return
	}
	p.free = append(p.free, m)
}

func (p *mapPool) get(max uint64) []byte {
	p.mu.Lock()
	for i, m := range p.free {
		if uint64(len(m)) == max {
			p.free[i] = p.free[len(p.free)-1]
			p.free = p.free[:len(p.free)-1]
			p.mu.Unlock()
			return m
		}
	}
	p.mu.Unlock()
	m, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		return nil
	}
	return m
}

// close unmaps the free mappings; memories freed later are unmapped then.
func (p *mapPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, m := range p.free {
		_ = syscall.Munmap(m)
	}
	p.free = nil
}

// allocator returns wazero's allocator hook for the pool, or nil to use
// wazero's own (a mapping could not be made).
func (p *mapPool) allocator() experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(_, max uint64) experimental.LinearMemory {
		if max == 0 {
			max = 1 << 16
		}
		m := p.get(max)
		if m == nil {
			// No address space: a zero-length memory refuses every grow,
			// and the instantiation fails cleanly on the minimum.
			return &sliceMemory{pool: p}
		}
		return &mmapMemory{pool: p, m: m}
	})
}
