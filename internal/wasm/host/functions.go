package host

import (
	"reflect"

	"github.com/heimdallgw/heimdall/internal/wasm/engine"
)

// Function describes one env function the host registers, for tools
// (heimdall plugin inspect) that say whether a plugin links.
type Function struct {
	Name    string
	Params  []engine.ValueType
	Results []engine.ValueType
	// Implemented is false for a function registered so that plugins
	// importing it load, whose body only returns Unimplemented.
	Implemented bool
}

// Functions lists the env host functions from the table the host registers
// (hostFuncs), so the list cannot drift from what a plugin links against.
func Functions() []Function {
	unimpl := reflect.ValueOf(hostFunc(unimplemented)).Pointer()
	t := table()
	out := make([]Function, len(t))
	for i, d := range t {
		out[i] = Function{
			Name:        d.name,
			Params:      d.params,
			Results:     statusResult,
			Implemented: reflect.ValueOf(d.fn).Pointer() != unimpl,
		}
	}
	return out
}
