package proxywasm

import "unsafe"

// input is a buffer for what the SDK encodes for one host call (a header
// map, a property path, a formatted log line). The host reads it during the
// call and keeps no reference, so one buffer serves every call: encoding
// costs no allocation once it has grown. Whoever finds it taken — a callback
// the host runs during the call, a String method logging while a log line is
// formatted, another goroutine — gets a fresh one.
type input struct {
	b      []byte
	pooled bool
}

var inputBuf struct {
	b    []byte
	busy bool
}

// maxPooledInput bounds what the module keeps between calls.
const maxPooledInput = 16 << 10

func getInput() input {
	if inputBuf.busy {
		return input{}
	}
	inputBuf.busy = true
	return input{b: inputBuf.b[:0], pooled: true}
}

// put returns the buffer after the host call.
func (in input) put() {
	if !in.pooled {
		return
	}
	if cap(in.b) <= maxPooledInput {
		inputBuf.b = in.b
	}
	inputBuf.busy = false
}

// str views the buffer as a string, for host calls taking one; valid until
// put.
func (in input) str() string { return unsafe.String(unsafe.SliceData(in.b), len(in.b)) }
