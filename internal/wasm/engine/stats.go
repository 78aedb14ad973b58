package engine

// TryLockExisting is LockExisting without waiting: when a call holds the
// slot it returns ok false and nothing is locked; otherwise the slot is
// locked (Unlock must be called) and inst is its live instance or nil. It is
// for metrics scrapes, which must not queue behind a running callback.
func (s *Slot) TryLockExisting() (inst *Instance, ok bool) {
	if !s.mu.TryLock() {
		return nil, false
	}
	if s.closed {
		return nil, true
	}
	return s.Current(), true
}
