package engine

import (
	"context"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Signature is a host function's parameter and result types.
type Signature struct {
	Params, Results []ValueType
}

// WASIFunctions lists the functions New registers in the WASI modules
// (wasi_snapshot_preview1 and wasi_unstable, both from wazero's
// implementation), by name, for tools that say whether a plugin links.
// Extensions (sockets) add or replace some; they list theirs themselves.
func WASIFunctions(ctx context.Context) (map[string]Signature, error) {
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	b := rt.NewHostModuleBuilder(ModuleWASI)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	cm, err := b.Compile(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]Signature{}
	for name, def := range cm.ExportedFunctions() {
		out[name] = Signature{Params: def.ParamTypes(), Results: def.ResultTypes()}
	}
	return out, nil
}

// Name is the function's export name ("" for the zero Function), for
// traces; it is looked up on each call, not on the hot path.
func (f Function) Name() string {
	if f.f == nil {
		return ""
	}
	if names := f.f.Definition().ExportNames(); len(names) > 0 {
		return names[0]
	}
	return f.f.Definition().Name()
}
