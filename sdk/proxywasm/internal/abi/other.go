//go:build !wasip1

package abi

import "slices"

// Outside wasm (the host emulator) there is no scratch buffer and no
// callback epoch. The emulator returns results in a reused buffer all the
// same, so Own and String always copy.

// Own returns a copy of b.
func Own(b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	return slices.Clone(b)
}

// String returns b as a string.
func String(b []byte) string { return string(b) }

// Epoch is the wasip1 callback epoch; natively nothing is cached.
func Epoch() (epoch uint32, in bool) { return 0, false }
