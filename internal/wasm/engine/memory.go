package engine

// sliceMemory is a linear memory that cannot hold anything: every
// Reallocate but to 0 fails. It stands in when no mapping could be made.
type sliceMemory struct{ pool *mapPool }

func (m *sliceMemory) Reallocate(size uint64) []byte {
	if size == 0 {
		return []byte{}
	}
	return nil
}

func (m *sliceMemory) Free() {}
