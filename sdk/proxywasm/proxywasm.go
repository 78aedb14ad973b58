// Package proxywasm is a proxy-wasm 0.2.1 SDK for plugins built with the
// standard Go toolchain:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// A plugin registers a types.VMContext with SetVMContext from main (or
// init); the SDK exports every proxy-wasm callback (proxy_on_*), the ABI
// marker proxy_abi_version_0_2_1 and proxy_on_memory_allocate, creates the
// plugin and stream contexts the VMContext hands out, and routes each
// callback to the right one. The functions of this package are the host
// calls; they act on the context whose callback is running.
//
// Host calls report the host's status as an error: a *types.StatusError
// that matches the types.ErrorStatus* sentinels with errors.Is. Functions a
// host does not implement fail with types.ErrorStatusUnimplemented.
//
// Natively (not wasip1) the same code runs against the proxytest emulator,
// so plugin logic can be tested with go test.
package proxywasm

import (
	"time"

	"github.com/heimdallgw/heimdall/sdk/proxywasm/internal/abi"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/internal/guest"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

// SetVMContext registers the plugin's VMContext. Call it once, from main or
// an init function, before the host creates any context.
func SetVMContext(vm types.VMContext) { guest.Current().SetVMContext(vm) }

func host() abi.Host { return guest.Current().Host() }

// statusErr maps a host status to the error of op. Errors are made once per
// op and status and then reused: a plugin that asks for an absent header on
// every request must not pay a guest allocation (~250 ns) each time.
func statusErr(op string, st types.Status) error {
	if st == types.StatusOK {
		return nil
	}
	k := errKey{op, st}
	if err, ok := statusErrs[k]; ok {
		return err
	}
	err := types.StatusToError(op, st)
	if len(statusErrs) < maxStatusErrs {
		statusErrs[k] = err
	}
	return err
}

type errKey struct {
	op string
	st types.Status
}

// statusErrs are the errors statusErr made; ops are constants and statuses
// few, so it stays small.
var statusErrs = map[errKey]error{}

const maxStatusErrs = 256

// GetVMConfiguration returns the VM configuration. Valid in OnVMStart.
func GetVMConfiguration() ([]byte, error) {
	return getWholeBuffer(types.BufferTypeVMConfiguration)
}

// GetPluginConfiguration returns the plugin configuration (for a gateway
// route, its conf). Valid in OnPluginStart.
func GetPluginConfiguration() ([]byte, error) {
	return getWholeBuffer(types.BufferTypePluginConfiguration)
}

// GetForeignFunctionArguments returns the arguments of the running
// OnForeignFunction call.
func GetForeignFunctionArguments() ([]byte, error) {
	return getWholeBuffer(types.BufferTypeForeignFunctionArguments)
}

// maxBufferRead asks the host for "everything": hosts clamp the range to the
// buffer, and start+max must not overflow a u32.
const maxBufferRead = 1<<31 - 1

func getWholeBuffer(bt types.BufferType) ([]byte, error) {
	b, st := host().GetBufferBytes(bt, 0, maxBufferRead)
	if st == types.StatusNotFound {
		// An absent configuration is an empty one.
		return nil, nil
	}
	return abi.Own(b), statusErr("proxy_get_buffer_bytes", st)
}

func getBuffer(bt types.BufferType, start, maxSize int) ([]byte, error) {
	if start < 0 || maxSize < 0 {
		return nil, &types.StatusError{Op: "proxy_get_buffer_bytes", Status: types.StatusBadArgument}
	}
	b, st := host().GetBufferBytes(bt, uint32(start), uint32(maxSize))
	return abi.Own(b), statusErr("proxy_get_buffer_bytes", st)
}

// Buffer edits, in the ABI's splice form set_buffer_bytes(start, size,
// data): replace [start, start+size) with data.
const (
	// Whole-buffer replacement: start 0 and the largest size. Envoy replaces
	// the whole buffer for start 0 and any non-zero size; spec-following
	// hosts clamp the size to the buffer.
	replaceStart, replaceSize = 0, 1<<32 - 1
	// Append: start at or past the end.
	appendStart, appendSize = 1<<32 - 1, 0
	// Prepend: insert at 0, replacing nothing.
	prependStart, prependSize = 0, 0
)

func setBuffer(bt types.BufferType, start, size uint32, data []byte) error {
	return statusErr("proxy_set_buffer_bytes", host().SetBufferBytes(bt, start, size, data))
}

// GetCurrentTime returns the host's wall clock (which may be frozen for the
// duration of a callback).
func GetCurrentTime() (time.Time, error) {
	t, st := host().GetCurrentTimeNanoseconds()
	if st != types.StatusOK {
		return time.Time{}, statusErr("proxy_get_current_time_nanoseconds", st)
	}
	return time.Unix(0, int64(t)), nil
}

// SetTickPeriodMilliSeconds makes the host call OnTick of the active plugin
// context every period milliseconds; 0 stops the timer.
func SetTickPeriodMilliSeconds(period uint32) error {
	return statusErr("proxy_set_tick_period_milliseconds", host().SetTickPeriodMilliseconds(period))
}

// SetEffectiveContext makes contextID the target of the host calls that
// follow, e.g. to act on a stream from OnQueueReady.
func SetEffectiveContext(contextID uint32) error {
	st := host().SetEffectiveContext(contextID)
	if st == types.StatusOK {
		guest.Current().SetActiveContextID(contextID)
	}
	return statusErr("proxy_set_effective_context", st)
}

// PluginDone tells the host that a plugin context whose OnPluginDone
// returned false has finished.
func PluginDone() error { return statusErr("proxy_done", host().Done()) }

// CallForeignFunction calls a function the host registered under name.
func CallForeignFunction(name string, args []byte) ([]byte, error) {
	b, st := host().CallForeignFunction(name, args)
	return abi.Own(b), statusErr("proxy_call_foreign_function", st)
}

// GetStatus returns the status code and message of the HTTP call whose
// response callback is running.
func GetStatus() (uint32, string, error) {
	code, msg, st := host().GetStatus()
	return code, abi.String(msg), statusErr("proxy_get_status", st)
}
