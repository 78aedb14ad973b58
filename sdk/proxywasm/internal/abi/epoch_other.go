//go:build !wasip1

package abi

// Epoch is the wasip1 callback epoch; outside wasm (the host emulator) there
// is none, so nothing is cached.
func Epoch() (epoch uint32, in bool) { return 0, false }
