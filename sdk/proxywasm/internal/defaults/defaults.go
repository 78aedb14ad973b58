// Package defaults tells the dispatcher when a plugin's HTTP callback is the
// SDK's own no-op (a method of types.DefaultHttpContext that the plugin's
// context type does not override), so the host can be told not to call it
// (the heimdall_callbacks_v1 extension, see package guest).
//
// It has no dependencies so that package types can import it.
package defaults

import (
	"runtime"
	"strings"
)

// The bits, the same as the host's abi.Skip* constants.
const (
	RequestHeaders uint32 = 1 << iota
	RequestBody
	RequestTrailers
	ResponseHeaders
	ResponseBody
	ResponseTrailers
	Log  // OnHttpStreamDone, called from proxy_on_log
	Done // proxy_on_done, which the SDK answers itself for streams
)

// learning is the bit the running callback is being watched for, hit
// whether a default method for it ran as the callback itself.
var learning, hit uint32

// Begin starts watching a callback for bit; it returns the previous state
// for End (a callback can run inside another one).
func Begin(bit uint32) (prevLearning, prevHit uint32) {
	prevLearning, prevHit = learning, hit
	learning, hit = bit, 0
	return
}

// End stops watching and reports whether the callback was the default one.
func End(bit, prevLearning, prevHit uint32) bool {
	was := hit&bit != 0
	learning, hit = prevLearning, prevHit
	return was
}

// dispatcher is the prefix of the functions that call HTTP callbacks: the
// SDK's dispatcher package (no plugin code lives there).
const dispatcher = "github.com/heimdallgw/heimdall/sdk/proxywasm/internal/guest."

// Mark is called by every default HTTP method with its bit. While the
// callback is watched for that bit it records a hit, but only when the
// default method was called by the dispatcher itself (through the promoted
// method of the plugin's type, a compiler wrapper that stack traces do not
// show) and not by a plugin method that does its own work and then calls
// the embedded default: that callback is not a no-op.
//
//go:noinline
func Mark(bit uint32) {
	if learning&bit == 0 {
		return
	}
	var pcs [4]uintptr
	n := runtime.Callers(3, pcs[:]) // skip Callers, Mark, the default method
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		// The default method itself may show up again when inlined.
		if !strings.HasPrefix(f.Function, "github.com/heimdallgw/heimdall/sdk/proxywasm/types.DefaultHttpContext.") {
			if strings.HasPrefix(f.Function, dispatcher) {
				hit |= bit
			}
			return
		}
		if !more {
			return
		}
	}
}
