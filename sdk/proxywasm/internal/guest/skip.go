package guest

import (
	"reflect"

	"github.com/heimdallgw/heimdall/sdk/proxywasm/internal/defaults"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

// Callback skipping (the heimdall_callbacks_v1 extension). Every HTTP
// context type (kind) learns, the first time each callback runs for one of
// its contexts, whether that callback is DefaultHttpContext's no-op
// (package defaults watches for it). The skip word offered to the host is
// the set of callbacks that are no-ops for every kind created so far; the
// host reads it after proxy_on_context_create and leaves those callbacks
// out for that stream. A new kind starts knowing nothing, so the word
// shrinks to Done when it appears and grows back as it is learned.

// kind is what is known of one HttpContext type.
type kind struct {
	t reflect.Type
	// known: the callbacks decided; noop: those of them that are no-ops.
	known, noop uint32
}

// allHTTP are the callbacks a kind learns.
const allHTTP = defaults.RequestHeaders | defaults.RequestBody | defaults.RequestTrailers |
	defaults.ResponseHeaders | defaults.ResponseBody | defaults.ResponseTrailers | defaults.Log

// kindOf returns the kind of hc, registering a new one.
func (s *State) kindOf(hc types.HttpContext) *kind {
	t := reflect.TypeOf(hc) // no allocation: the type word of the interface
	for _, k := range s.kinds {
		if k.t == t {
			return k
		}
	}
	k := &kind{t: t}
	if embedsInterface(t, 0) {
		// Its callbacks may reach different implementations from one
		// context to the next: never skipped.
		k.known = allHTTP
	}
	s.kinds = append(s.kinds, k)
	s.updateSkip()
	return k
}

// embedsInterface reports whether t (a struct or a pointer to one) embeds
// an interface, directly or through embedded structs: a promoted method
// then calls whatever the field holds, and a no-op seen once says nothing
// about the next context of the same type.
func embedsInterface(t reflect.Type, depth int) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || depth > 16 {
		return false
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.Anonymous {
			continue
		}
		if f.Type.Kind() == reflect.Interface || embedsInterface(f.Type, depth+1) {
			return true
		}
	}
	return false
}

// watch reports whether bit is still to be learned for k; when it is, the
// callback about to run is watched (defaults.Begin) and learned must be
// called after it with the returned state.
func (k *kind) watch(bit uint32) (bool, uint32, uint32) {
	if k.known&bit != 0 {
		return false, 0, 0
	}
	pl, ph := defaults.Begin(bit)
	return true, pl, ph
}

// learned records whether the watched callback was a no-op.
func (s *State) learned(k *kind, bit, prevLearning, prevHit uint32) {
	noop := defaults.End(bit, prevLearning, prevHit)
	if k.known&bit != 0 { // decided meanwhile (a nested callback)
		return
	}
	k.known |= bit
	if noop {
		k.noop |= bit
		s.updateSkip()
	}
}

// updateSkip recomputes the skip word. proxy_on_done is always skippable
// for streams: the SDK answers it itself (true).
func (s *State) updateSkip() {
	m := allHTTP
	for _, k := range s.kinds {
		m &= k.noop
	}
	s.skip = m | defaults.Done
	if s == state {
		skipWord = s.skip
	}
}

// SkipWord is the current skip word (what the host reads).
func (s *State) SkipWord() uint32 { return s.skip }

// skipWord is the skip word of the module's dispatcher at a fixed address,
// for the host (heimdall_callbacks_v1).
var skipWord uint32 = defaults.Done
