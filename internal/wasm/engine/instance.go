package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

func randRead(p []byte) (int, error) { return rand.Read(p) }

// Instance is one instantiated guest module. It is used with its slot
// locked; host functions called from it receive it.
type Instance struct {
	slot *Slot
	// Gen distinguishes successive instances of one slot: a stream created
	// on generation g is lost when the slot holds another generation.
	Gen uint64
	// Data is the host's per-instance state.
	Data any

	mod     api.Module
	mem     api.Memory
	ctx     *callCtx
	expired atomic.Bool
	watchState
	// abort is the instrumented module's abort global (TerminationGlobal),
	// set once after instantiation; atomic because expire reads it from
	// the watchdog's goroutine.
	abort  atomic.Pointer[api.MutableGlobal]
	depth  int
	broken bool
	// trapped: a call failed (counted and backed off at discard);
	// retired: replaced when the slot is unlocked, without a failure.
	trapped, retired bool
	initMem          uint32 // memory size once started
}

// Function is a handle on a guest export; the zero value is "absent". Its
// arity is read once (api.FunctionDefinition builds a slice per call).
type Function struct {
	f                 api.Function
	nParams, nResults int
}

// Valid reports whether the function exists.
func (f Function) Valid() bool { return f.f != nil }

// ParamCount is the number of parameters (ABI versions differ in arity).
func (f Function) ParamCount() int { return f.nParams }

// ResultCount is the number of results.
func (f Function) ResultCount() int { return f.nResults }

// Lookup returns the exported function name of this instance.
func (i *Instance) Lookup(name string) Function {
	if i.mod == nil {
		return Function{}
	}
	f := i.mod.ExportedFunction(name)
	if f == nil {
		return Function{}
	}
	def := f.Definition()
	return Function{f: f, nParams: len(def.ParamTypes()), nResults: len(def.ResultTypes())}
}

// Slot returns the slot the instance lives in.
func (i *Instance) Slot() *Slot { return i.slot }

// Broken reports whether the instance trapped and will be discarded.
func (i *Instance) Broken() bool { return i.broken }

// Break marks the instance for discarding (on the slot's next Unlock), for
// example after a host function found the guest misbehaving. It counts as
// a failure (Stats.Traps, backoff).
func (i *Instance) Break() { i.broken, i.trapped = true, true }

// Retire replaces the instance at the slot's next Unlock without counting
// a failure: for recycling (OverMemory). The slot must be locked.
func (i *Instance) Retire() { i.retired = true }

// Healthy tells the slot that the instance served a stream without
// failing: the failure count and backoff start over. The slot must be
// locked.
func (i *Instance) Healthy() {
	if s := i.slot; s != nil && s.fails != 0 {
		s.fails = 0
	}
}

// OverMemory reports whether the instance should be recycled once idle:
// its linear memory grew past Config.RecycleBytes, or the pool is within
// an eighth of its MemoryBudget and this instance grew since it started.
func (i *Instance) OverMemory() bool {
	if i.slot == nil || i.mem == nil {
		return false
	}
	e := i.slot.e
	size := uint64(i.mem.Size())
	if size > e.cfg.RecycleBytes {
		return true
	}
	if b := e.cfg.MemoryBudget; b > 0 && size > uint64(i.initMem) {
		return e.PoolMemory() > b-b/8
	}
	return false
}

// Context is the instance's call context (carries no request deadline).
func (i *Instance) Context() context.Context { return i.ctx }

// expire runs on the watchdog's goroutine when a call overruns. Under TerminationGlobal it sets the abort global, and the guest
// traps (unreachable) at its next loop header; Call then sees expired and
// reports ErrTimeout, and the instance is discarded (the global is never
// reset). The write races with the guest's reads of the global by design:
// wazero (v1.12, compiler) keeps the global in the module's own memory
// and the compiled code loads it at every check, so the guest sees the
// store at most a few iterations late; the value only goes from 0 to 1, a
// change of one byte, so no read can see anything but 0 or 1. The race
// detector does not see it (compiled code is not instrumented), and no Go
// code reads the global.
func (i *Instance) expire() {
	if i.expired.CompareAndSwap(false, true) {
		if g := i.abort.Load(); g != nil {
			(*g).Set(1)
		}
		close(i.ctx.done)
	}
}

// Errors of Call.
var (
	ErrBroken     = errors.New("wasm instance is broken")
	ErrNoFunction = errors.New("wasm function not exported")
	ErrTimeout    = errors.New("wasm call exceeded its deadline")
)

// TrapError is a guest call that failed: a trap, a panic in a host function,
// proc_exit, a timeout. The instance is discarded.
type TrapError struct {
	Func string
	Err  error
}

func (e *TrapError) Error() string { return "wasm call " + e.Func + " failed: " + e.Err.Error() }
func (e *TrapError) Unwrap() error { return e.Err }

// Call calls f with the parameters in stack; the results replace them.
// stack must be long enough for both. Any failure breaks the instance.
func (i *Instance) Call(f Function, stack []uint64) (err error) {
	if i.broken {
		return ErrBroken
	}
	if f.f == nil {
		return ErrNoFunction
	}
	outer := i.depth == 0 && !i.slot.e.cfg.Uninterruptible
	i.depth++
	if outer {
		i.enter()
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		err = f.f.CallWithStack(i.ctx, stack)
	}()
	i.depth--
	if outer {
		i.leave()
		if i.expired.Load() {
			i.broken = true
			i.slot.e.stats.timeouts.Add(1)
			if err == nil {
				err = ErrTimeout
			} else {
				err = fmt.Errorf("%w: %w", ErrTimeout, err)
			}
		}
	}
	if err != nil {
		i.broken, i.trapped = true, true
		var ee *sys.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == sys.ExitCodeDeadlineExceeded && !errors.Is(err, ErrTimeout) {
			err = fmt.Errorf("%w: %w", ErrTimeout, err)
		}
		return &TrapError{Func: f.f.Definition().Name(), Err: err}
	}
	return nil
}

// Read returns a view of n bytes of guest memory at ptr; ok is false when
// the range is outside memory. The view is invalidated when memory grows.
func (i *Instance) Read(ptr, n uint32) ([]byte, bool) {
	if i.mem == nil {
		return nil, false
	}
	return i.mem.Read(ptr, n)
}

// Write copies b to guest memory at ptr.
func (i *Instance) Write(ptr uint32, b []byte) bool {
	if i.mem == nil {
		return false
	}
	return i.mem.Write(ptr, b)
}

// ReadUint32 reads a little-endian uint32.
func (i *Instance) ReadUint32(ptr uint32) (uint32, bool) {
	if i.mem == nil {
		return 0, false
	}
	return i.mem.ReadUint32Le(ptr)
}

// WriteUint32 writes a little-endian uint32.
func (i *Instance) WriteUint32(ptr, v uint32) bool {
	if i.mem == nil {
		return false
	}
	return i.mem.WriteUint32Le(ptr, v)
}

// WriteUint64 writes a little-endian uint64.
func (i *Instance) WriteUint64(ptr uint32, v uint64) bool {
	if i.mem == nil {
		return false
	}
	return i.mem.WriteUint64Le(ptr, v)
}

// MemorySize is the current memory size in bytes.
func (i *Instance) MemorySize() uint32 {
	if i.mem == nil {
		return 0
	}
	return i.mem.Size()
}
