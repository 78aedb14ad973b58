package host

// InstanceMemory returns the linear memory size in bytes of each live
// instance, by slot (0 for a slot without one). It waits for each slot's
// running callback, so it is for tests, diagnostics and metrics scrapes,
// not for the request path.
func (p *Plugin) InstanceMemory() []uint32 {
	slots := p.eng.Slots()
	out := make([]uint32, len(slots))
	for i, s := range slots {
		if inst := s.LockExisting(); inst != nil {
			out[i] = inst.MemorySize()
		}
		s.Unlock()
	}
	return out
}
