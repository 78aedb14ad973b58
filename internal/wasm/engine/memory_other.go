//go:build !linux

package engine

import (
	"sync"

	"github.com/tetratelabs/wazero/experimental"
)

// mapPool accounts linear memory by instance; off Linux memories are
// wazero's own Go slices, so the pool budget is only enforced by recycling
// (Instance.OverBudget) and not at memory.grow.
type mapPool struct {
	budget uint64
	mu     sync.Mutex
}

func (p *mapPool) inUse() uint64                           { return 0 }
func (p *mapPool) close()                                  {}
func (p *mapPool) allocator() experimental.MemoryAllocator { return nil }
