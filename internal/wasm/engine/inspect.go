package engine

import (
	"context"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
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

// HostCallTrace receives a call of a host function outside module env
// (WASI, the socket extension) after it returned: its parameters and
// results as raw stack values. See Config.TraceHost.
type HostCallTrace func(inst *Instance, module, name string, params, results []uint64)

// traceCtx returns the context to compile host module m with: one carrying
// a function listener when cfg.TraceHost is set and m is not env (whose
// functions the host traces itself, decoded), else ctx unchanged, so an
// untraced engine compiles exactly as before.
func (e *Engine) traceCtx(ctx context.Context, m string) context.Context {
	if e.cfg.TraceHost == nil || m == ModuleEnv {
		return ctx
	}
	return experimental.WithFunctionListenerFactory(ctx, hostListener{fn: e.cfg.TraceHost, module: m})
}

type hostListener struct {
	fn     HostCallTrace
	module string
}

func (l hostListener) NewFunctionListener(api.FunctionDefinition) experimental.FunctionListener {
	return &hostCall{l: l}
}

// hostCall keeps the parameters of the calls in progress, per instance
// (instances run concurrently; on one, a host function may call back into
// the guest, which may call another one).
type hostCall struct {
	l     hostListener
	mu    sync.Mutex
	stack map[*Instance][][]uint64
}

func (c *hostCall) Before(ctx context.Context, mod api.Module, _ api.FunctionDefinition, params []uint64, _ experimental.StackIterator) {
	inst := instanceFrom(ctx, mod)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stack == nil {
		c.stack = map[*Instance][][]uint64{}
	}
	c.stack[inst] = append(c.stack[inst], append([]uint64(nil), params...))
}

func (c *hostCall) After(ctx context.Context, mod api.Module, def api.FunctionDefinition, results []uint64) {
	inst := instanceFrom(ctx, mod)
	params := c.pop(inst)
	c.l.fn(inst, c.l.module, def.Name(), params, results)
}

func (c *hostCall) Abort(ctx context.Context, mod api.Module, _ api.FunctionDefinition, _ error) {
	c.pop(instanceFrom(ctx, mod))
}

func (c *hostCall) pop(inst *Instance) []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stack[inst]
	if len(st) == 0 {
		return nil
	}
	p := st[len(st)-1]
	if len(st) == 1 {
		delete(c.stack, inst)
	} else {
		c.stack[inst] = st[:len(st)-1]
	}
	return p
}
