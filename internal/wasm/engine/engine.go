// Package engine owns the WebAssembly runtime (wazero): it compiles a plugin
// once (through a persistent compilation cache), builds the host modules the
// plugin imports, and keeps a pool of instances. It is the only package that
// imports wazero, apart from host-function extensions (see Extension).
//
// The proxy-wasm semantics live in package host; the engine knows nothing
// about them. Host functions are given to the engine as HostFunc values in
// the stack form (no reflection) and receive the *Instance that called them.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/heimdallgw/heimdall/internal/wasm/instrument"
)

// Extension adds host functions to one plugin's import modules.
type Extension interface {
	// Export adds functions to the host module named module ("wasi_snapshot_preview1", "env", ...),
	// after the built-in ones (so it may replace them). imports are the guest's imported
	// functions from that module, so an extension can choose signatures (WasmEdge V1/V2).
	Export(module string, b wazero.HostModuleBuilder, imports []api.FunctionDefinition) error
	// InstanceClosed releases per-instance state when an instance is discarded.
	InstanceClosed(mod api.Module)
}

// ValueType is a WebAssembly value type of a host function parameter or result.
type ValueType = api.ValueType

// Value types.
const (
	I32 = api.ValueTypeI32
	I64 = api.ValueTypeI64
	F32 = api.ValueTypeF32
	F64 = api.ValueTypeF64
)

// HostFunc is one host function in stack form: the parameters are in
// stack[:len(Params)] and the results are written to stack[:len(Results)].
type HostFunc struct {
	Module  string // import module, e.g. "env"
	Name    string
	Params  []ValueType
	Results []ValueType
	Fn      func(inst *Instance, stack []uint64)
}

// Defaults.
const (
	// DefaultMemoryLimitPages caps an instance's linear memory at 64 MiB:
	// the bundled plugins (Go, our SDK) run in 2-5 MiB, an AssemblyScript
	// or Rust plugin in less; 64 MiB leaves room for a plugin buffering
	// bodies up to the default body_buffer_limit many times over, and
	// keeps a pool of GOMAXPROCS runaway instances from taking gigabytes.
	DefaultMemoryLimitPages = 1024
	// DefaultCallTimeout bounds one guest call (a callback).
	DefaultCallTimeout = 5 * time.Second
	// Replacing failed instances (Backoff).
	DefaultBackoffBase = 100 * time.Millisecond
	DefaultBackoffMax  = 10 * time.Second
	DefaultRestartRate = 10
)

// WASI module names.
const (
	ModuleWASI         = "wasi_snapshot_preview1"
	ModuleWASIUnstable = "wasi_unstable"
	ModuleEnv          = "env"
)

// Config configures one plugin's engine. The zero value of each field has a
// sensible default.
type Config struct {
	// Name is the plugin name, used in errors.
	Name string
	// Wasm is the module binary.
	Wasm []byte
	// Cache is a compilation cache shared between plugins; when nil the
	// engine opens one in CacheDir (and closes it with the engine).
	Cache *Cache
	// CacheDir is the compilation cache directory when Cache is nil; ""
	// means DefaultCacheDir(). NoCache disables the persistent cache.
	CacheDir string
	NoCache  bool
	// PoolSize is the number of instances (created lazily); 0 = GOMAXPROCS.
	PoolSize int
	// MemoryLimitPages caps each instance's memory (64 KiB pages);
	// 0 = DefaultMemoryLimitPages. Growing beyond it fails in the guest,
	// which normally traps.
	MemoryLimitPages uint32
	// CallTimeout bounds every guest call; 0 = DefaultCallTimeout. A call
	// that runs longer is aborted and its instance discarded.
	CallTimeout time.Duration
	// Uninterruptible compiles the plugin without termination checks and
	// runs calls without a watchdog: CallTimeout is not enforced and a
	// guest stuck in a loop keeps its slot (and a CPU) forever, and stalls
	// the whole process at the next garbage collection. Envoy's behaviour;
	// for trusted plugins. With the module instrumented (the default, see
	// New) the checks cost little: a counter per loop iteration.
	Uninterruptible bool
	// HostFuncs are the host functions (module "env" and any other).
	HostFuncs []HostFunc
	// Extensions add or replace host functions (sockets).
	Extensions []Extension
	// Stdout and Stderr receive the guest's output; nil discards it.
	Stdout, Stderr io.Writer
	// RecycleBytes: an instance whose linear memory grew past it is
	// replaced once idle (Instance.OverMemory; wasm memory never shrinks).
	// 0 = half the memory limit.
	RecycleBytes uint64
	// MemoryBudget caps the linear memory of all the pool's instances
	// together (bytes); 0 = none beyond PoolSize * the memory limit. On
	// Linux a memory.grow past it fails in the guest, as past the limit.
	MemoryBudget uint64
	// Backoff paces the replacement of failed instances.
	Backoff Backoff
	// Init runs once on every new instance, with its slot locked (start-up
	// functions, per-instance state in Instance.Data). An error discards it.
	Init func(inst *Instance) error
	// Closed runs when an instance is discarded (after a trap or on Close).
	Closed func(inst *Instance)
	// Log receives the engine's own messages (a plugin that could not be
	// instrumented); nil = slog.Default().
	Log *slog.Logger
	// TraceHost, when set, receives every call of the functions of the
	// host modules other than env (WASI, extensions), for tracing tools;
	// nil compiles the host modules without listeners (no cost).
	TraceHost HostCallTrace
}

// Termination is how an engine aborts a guest call that overruns.
type Termination int

// Terminations.
const (
	// TerminationNone: Uninterruptible, calls are never aborted.
	TerminationNone Termination = iota
	// TerminationGlobal: the module was instrumented (package instrument)
	// and the watchdog sets its abort global, which makes the guest trap
	// at its next loop header. The cheap default.
	TerminationGlobal
	// TerminationContext: wazero's own checks (WithCloseOnContextDone), a
	// call out to Go at every loop header; the fallback for a module that
	// could not be instrumented.
	TerminationContext
)

func (t Termination) String() string {
	switch t {
	case TerminationNone:
		return "none"
	case TerminationGlobal:
		return "abort-global"
	case TerminationContext:
		return "close-on-context-done"
	}
	return fmt.Sprintf("Termination(%d)", int(t))
}

// Cache is a persistent compilation cache that may be shared by plugins.
type Cache struct {
	c wazero.CompilationCache
}

// DefaultCacheDir is os.UserCacheDir()/heimdall/wazero.
func DefaultCacheDir() string {
	d, err := os.UserCacheDir()
	if err != nil || d == "" {
		d = os.TempDir()
	}
	return filepath.Join(d, "heimdall", "wazero")
}

// NewCache opens a compilation cache in dir ("" = DefaultCacheDir()).
func NewCache(dir string) (*Cache, error) {
	if dir == "" {
		dir = DefaultCacheDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating wasm cache dir: %w", err)
	}
	c, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		return nil, fmt.Errorf("opening wasm cache dir %s: %w", dir, err)
	}
	return &Cache{c: c}, nil
}

// NewMemoryCache returns an in-memory compilation cache.
func NewMemoryCache() *Cache { return &Cache{c: wazero.NewCompilationCache()} }

// Close releases the cache.
func (c *Cache) Close(ctx context.Context) error { return c.c.Close(ctx) }

// Engine is one plugin compiled, with its runtime and its instance pool.
type Engine struct {
	cfg       Config
	rt        wazero.Runtime
	ownCache  *Cache
	compiled  wazero.CompiledModule
	exports   map[string]api.FunctionDefinition
	modConfig wazero.ModuleConfig
	slots     []*Slot
	term      Termination
	termWhy   error     // why TerminationContext (instrumentation failed)
	abortName string    // the abort global's export name (TerminationGlobal)
	watch     *watchdog // nil when Uninterruptible
	next      uint32
	nextMu    sync.Mutex
	closeOnce sync.Once
	mem       *mapPool
	restarts  tokenBucket
	stats     counters
}

// New compiles cfg.Wasm and prepares the host modules. No instance is
// created yet. A guest importing a function no host module provides fails
// here with an error naming it.
func New(ctx context.Context, cfg Config) (_ *Engine, err error) {
	if cfg.PoolSize <= 0 {
		cfg.PoolSize = runtime.GOMAXPROCS(0)
	}
	if cfg.MemoryLimitPages == 0 {
		cfg.MemoryLimitPages = DefaultMemoryLimitPages
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.RecycleBytes == 0 {
		cfg.RecycleBytes = uint64(cfg.MemoryLimitPages) << 16 / 2
	}
	cfg.Backoff = cfg.Backoff.withDefaults(cfg.PoolSize)
	e := &Engine{cfg: cfg, mem: &mapPool{budget: cfg.MemoryBudget}}
	e.restarts.init(cfg.Backoff.Rate, cfg.Backoff.Burst)
	// Termination of runaway guests. wazero's WithCloseOnContextDone puts,
	// at every wasm loop header (and Go puts one in every function that
	// calls another), a call out to Go that checks whether the module was
	// closed, and starts a watcher goroutine per call: with plugins/headers
	// (BenchmarkRequestHeadersPlugin) ~42 µs CPU per request against ~10
	// without. Instead the module is instrumented (package instrument): an
	// exported abort global and, at every loop header, a native check of
	// it; the watchdog (Instance.expire) sets it and the guest traps at
	// its next loop iteration. A module that cannot be instrumented (an
	// opcode the instrumenter does not know, say) keeps wazero's checks,
	// so no plugin runs unprotected unless Uninterruptible asks for it.
	wasm := cfg.Wasm
	switch {
	case cfg.Uninterruptible:
		e.term = TerminationNone
	default:
		out, name, ierr := instrument.Instrument(cfg.Wasm)
		if ierr != nil {
			e.term, e.termWhy = TerminationContext, ierr
		} else {
			e.term, e.abortName, wasm = TerminationGlobal, name, out
		}
	}
	defer func() {
		if err != nil {
			e.closeRuntime(ctx)
		}
	}()
	for {
		err = e.compile(ctx, wasm)
		if err != nil && e.term == TerminationGlobal {
			// The instrumented module does not compile but the original
			// may: a bug in the instrumenter must not lose the plugin.
			e.closeRuntime(ctx)
			e.term, e.termWhy, e.abortName, wasm = TerminationContext, fmt.Errorf("instrumented module: %w", err), "", cfg.Wasm
			continue
		}
		break
	}
	if err != nil {
		return nil, fmt.Errorf("compiling wasm plugin %s: %w", cfg.Name, err)
	}
	if e.term == TerminationContext {
		cfg.Log.Warn("wasm plugin not instrumented for cheap termination; using wazero's context checks (slower)",
			slog.String("plugin", cfg.Name), slog.Any("reason", e.termWhy))
	}
	e.exports = e.compiled.ExportedFunctions()

	// Group the guest's imports by module.
	imports := map[string][]api.FunctionDefinition{}
	for _, def := range e.compiled.ImportedFunctions() {
		mod, _, _ := def.Import()
		imports[mod] = append(imports[mod], def)
	}
	hostByModule := map[string][]HostFunc{}
	for _, f := range cfg.HostFuncs {
		hostByModule[f.Module] = append(hostByModule[f.Module], f)
	}
	modNames := make([]string, 0, len(imports))
	for m := range imports {
		modNames = append(modNames, m)
	}
	sort.Strings(modNames)
	for _, m := range modNames {
		b := e.rt.NewHostModuleBuilder(m)
		known := false
		if m == ModuleWASI || m == ModuleWASIUnstable {
			wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
			known = true
		}
		for _, f := range hostByModule[m] {
			fn := f.Fn
			b.NewFunctionBuilder().
				WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
					fn(instanceFrom(ctx, mod), stack)
				}), f.Params, f.Results).
				Export(f.Name)
			known = true
		}
		for _, x := range cfg.Extensions {
			if err := x.Export(m, b, imports[m]); err != nil {
				return nil, fmt.Errorf("wasm plugin %s: host module %s: %w", cfg.Name, m, err)
			}
		}
		hc, err := b.Compile(e.traceCtx(ctx, m))
		if err != nil {
			return nil, fmt.Errorf("wasm plugin %s: building host module %s: %w", cfg.Name, m, err)
		}
		have := hc.ExportedFunctions()
		var missing []string
		for _, def := range imports[m] {
			_, name, _ := def.Import()
			if _, ok := have[name]; !ok {
				missing = append(missing, m+"."+name)
			}
		}
		if len(missing) > 0 {
			if !known && len(have) == 0 {
				return nil, fmt.Errorf("wasm plugin %s imports unknown function %s (unknown module %q)", cfg.Name, strings.Join(missing, ", "), m)
			}
			return nil, fmt.Errorf("wasm plugin %s imports unknown function %s", cfg.Name, strings.Join(missing, ", "))
		}
		if _, err := e.rt.InstantiateModule(ctx, hc, wazero.NewModuleConfig()); err != nil {
			return nil, fmt.Errorf("wasm plugin %s: instantiating host module %s: %w", cfg.Name, m, err)
		}
	}
	e.modConfig = wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(). // the host runs _initialize / _start itself
		WithStdout(cfg.Stdout).
		WithStderr(cfg.Stderr).
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(cryptoRand{})
	e.slots = make([]*Slot, cfg.PoolSize)
	for i := range e.slots {
		e.slots[i] = &Slot{e: e, index: i}
	}
	if !cfg.Uninterruptible {
		e.watch = startWatchdog(e)
	}
	return e, nil
}

// compile makes the runtime (closing the context's done channel aborts
// calls only for TerminationContext) and compiles wasm.
func (e *Engine) compile(ctx context.Context, wasm []byte) error {
	rc := wazero.NewRuntimeConfig().
		WithCloseOnContextDone(e.term == TerminationContext).
		WithMemoryLimitPages(e.cfg.MemoryLimitPages)
	switch {
	case e.cfg.Cache != nil:
		rc = rc.WithCompilationCache(e.cfg.Cache.c)
	case !e.cfg.NoCache:
		c, err := NewCache(e.cfg.CacheDir)
		if err != nil {
			return err
		}
		e.ownCache = c
		rc = rc.WithCompilationCache(c.c)
	}
	e.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	var err error
	e.compiled, err = e.rt.CompileModule(ctx, wasm)
	return err
}

func (e *Engine) closeRuntime(ctx context.Context) {
	if e.rt != nil {
		_ = e.rt.Close(ctx)
		e.rt = nil
	}
	if e.ownCache != nil {
		_ = e.ownCache.Close(ctx)
		e.ownCache = nil
	}
}

// Termination reports how overrunning calls are aborted and, for
// TerminationContext, why the module could not be instrumented.
func (e *Engine) Termination() (Termination, error) { return e.term, e.termWhy }

// Name is the plugin name.
func (e *Engine) Name() string { return e.cfg.Name }

// HasExport reports whether the guest exports a function called name.
func (e *Engine) HasExport(name string) bool {
	_, ok := e.exports[name]
	return ok
}

// ExportNames lists the guest's exported functions.
func (e *Engine) ExportNames() []string {
	out := make([]string, 0, len(e.exports))
	for n := range e.exports {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ImportNames lists the guest's imported functions as module.name.
func (e *Engine) ImportNames() []string {
	var out []string
	for _, def := range e.compiled.ImportedFunctions() {
		m, n, _ := def.Import()
		out = append(out, m+"."+n)
	}
	return out
}

// CustomSection returns the contents of the named custom section, if any.
func (e *Engine) CustomSection(name string) ([]byte, bool) {
	for _, s := range e.compiled.CustomSections() {
		if s.Name() == name {
			return s.Data(), true
		}
	}
	return nil, false
}

// Slots returns the instance slots (len = pool size).
func (e *Engine) Slots() []*Slot { return e.slots }

// Pick returns a slot for a new stream: round-robin, skipping slots busy
// with a guest call when a free one exists, so a stream does not queue
// behind a long callback (an on_configure doing network I/O, say) while
// another instance idles, and skipping slots waiting out a failure backoff
// while another can serve.
func (e *Engine) Pick() *Slot {
	e.nextMu.Lock()
	i := e.next
	e.next++
	e.nextMu.Unlock()
	n := uint32(len(e.slots))
	now := time.Now().UnixNano()
	for k := uint32(0); k < n; k++ {
		s := e.slots[int((i+k)%n)]
		if s.retry.Load() <= now && s.mu.TryLock() {
			s.mu.Unlock()
			return s
		}
	}
	for k := uint32(0); k < n; k++ {
		if s := e.slots[int((i+k)%n)]; s.retry.Load() <= now {
			return s
		}
	}
	return e.slots[int(i%n)]
}

// Close discards every instance and the runtime.
func (e *Engine) Close(ctx context.Context) error {
	var err error
	e.closeOnce.Do(func() {
		if e.watch != nil {
			e.watch.close()
		}
		for _, s := range e.slots {
			s.mu.Lock()
			if s.inst != nil {
				s.discardLocked()
			}
			s.closed = true
			s.mu.Unlock()
		}
		err = e.rt.Close(ctx)
		e.mem.close()
		if e.ownCache != nil {
			if cerr := e.ownCache.Close(ctx); err == nil {
				err = cerr
			}
		}
	})
	return err
}

// ErrClosed is returned when the engine was closed.
var ErrClosed = errors.New("wasm engine closed")

// ErrBackoff is returned by Slot.Lock while a slot whose instance failed
// waits before getting a new one (Config.BackoffBase, RestartRate).
var ErrBackoff = errors.New("wasm plugin instance failed recently; replacement delayed (backoff)")

// Slot holds at most one live instance. An instance runs one guest call at
// a time: the slot's lock is held across it.
type Slot struct {
	e     *Engine
	index int
	mu    sync.Mutex
	inst  *Instance
	// live is inst for the watchdog's goroutine (set from the start of
	// the instantiation until the instance is discarded).
	live   atomic.Pointer[Instance]
	gen    uint64
	closed bool
	// fails counts the instances that failed in a row (reset by
	// Healthy); retry is when a new one may be made (unix ns; 0 = now),
	// atomic for Pick.
	fails int
	retry atomic.Int64
	// mem is the live instance's memory size as of the last Unlock.
	mem atomic.Uint64
}

// Index is the slot's position in the pool.
func (s *Slot) Index() int { return s.index }

// Lock locks the slot and returns its live instance, creating one if needed.
// Unlock must be called even when err is not nil. While the slot is in
// backoff after failures it returns ErrBackoff at once (no waiting).
func (s *Slot) Lock(ctx context.Context) (*Instance, error) {
	s.mu.Lock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.inst != nil && !s.inst.broken {
		return s.inst, nil
	}
	if s.inst != nil {
		s.discardLocked()
	}
	if s.fails > 0 {
		now := time.Now()
		if now.UnixNano() < s.retry.Load() {
			s.e.stats.backoff.Add(1)
			return nil, ErrBackoff
		}
		if wait := s.e.restarts.take(now); wait > 0 {
			s.retry.Store(now.Add(wait).UnixNano())
			s.e.stats.backoff.Add(1)
			return nil, ErrBackoff
		}
	}
	inst, err := s.e.instantiate(ctx, s)
	if err != nil {
		s.failed()
		return nil, err
	}
	s.inst = inst
	s.retry.Store(0)
	return inst, nil
}

// failed records an instance failure and sets the slot's backoff.
func (s *Slot) failed() {
	s.fails++
	b := &s.e.cfg.Backoff
	var d time.Duration
	if s.fails > 1 {
		d = b.Base << min(s.fails-2, 30)
		if d <= 0 || d > b.Max {
			d = b.Max
		}
	}
	s.retry.Store(time.Now().Add(d).UnixNano())
}

// LockExisting locks the slot and returns its live instance, or nil when
// it has none (nothing is created). Unlock must be called.
func (s *Slot) LockExisting() *Instance {
	s.mu.Lock()
	if s.closed {
		return nil
	}
	return s.Current()
}

// Current returns the live instance without creating one (nil if none).
// The slot must be locked.
func (s *Slot) Current() *Instance {
	if s.inst != nil && !s.inst.broken {
		return s.inst
	}
	return nil
}

// Unlock releases the slot. A broken or retired instance is discarded now.
func (s *Slot) Unlock() {
	if s.inst != nil {
		if s.inst.broken || s.inst.retired {
			s.discardLocked()
		} else {
			s.mem.Store(uint64(s.inst.MemorySize()))
		}
	}
	s.mu.Unlock()
}

func (s *Slot) discardLocked() {
	inst := s.inst
	s.inst = nil
	s.mem.Store(0)
	switch {
	case inst.retired && !inst.broken:
		s.e.stats.recycles.Add(1)
	case inst.trapped:
		s.e.stats.traps.Add(1)
		s.failed()
	}
	inst.broken = true
	if s.e.cfg.Closed != nil {
		s.e.cfg.Closed(inst)
	}
	for _, x := range s.e.cfg.Extensions {
		x.InstanceClosed(inst.mod)
	}
	s.live.Store(nil)
	_ = inst.mod.Close(context.Background())
}

func (e *Engine) instantiate(ctx context.Context, s *Slot) (inst *Instance, err error) {
	s.gen++
	e.stats.instantiations.Add(1)
	inst = &Instance{slot: s, Gen: s.gen}
	if a := e.mem.allocator(); a != nil {
		ctx = experimental.WithMemoryAllocator(ctx, a)
	}
	inst.ctx = &callCtx{parent: ctx, inst: inst, done: make(chan struct{})}
	inst.depth = 1
	if !e.cfg.Uninterruptible {
		// The watchdog sees the instance from now on: instantiation runs
		// guest code (start functions) under the same timeout as a call.
		s.live.Store(inst)
		inst.enter()
	}
	mod, err := func() (m api.Module, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return e.rt.InstantiateModule(inst.ctx, e.compiled, e.modConfig)
	}()
	inst.depth = 0
	if !e.cfg.Uninterruptible {
		inst.leave()
	}
	if err != nil {
		s.live.Store(nil)
		if inst.expired.Load() {
			e.stats.timeouts.Add(1)
		}
		return nil, fmt.Errorf("instantiating wasm plugin %s: %w", e.cfg.Name, err)
	}
	inst.mod = mod
	inst.mem = memoryOf(mod)
	// From now on calls see no values of the instantiating context: it
	// may be a request's, which the instance must not keep alive, and
	// wazero looks a value up on every call (a walk up that context's
	// chain, ~1% of a request's CPU in the gateway).
	inst.ctx.parent = context.Background()
	if e.term == TerminationGlobal {
		g, ok := mod.ExportedGlobal(e.abortName).(api.MutableGlobal)
		if !ok { // cannot happen: instrument exports a mutable i32
			s.live.Store(nil)
			_ = mod.Close(context.Background())
			return nil, fmt.Errorf("instantiating wasm plugin %s: abort global %s missing", e.cfg.Name, e.abortName)
		}
		inst.abort.Store(&g)
	}
	if e.cfg.Init != nil {
		if err := e.cfg.Init(inst); err != nil {
			inst.broken = true
			if e.cfg.Closed != nil {
				e.cfg.Closed(inst)
			}
			for _, x := range e.cfg.Extensions {
				x.InstanceClosed(mod)
			}
			s.live.Store(nil)
			_ = mod.Close(context.Background())
			return nil, fmt.Errorf("starting wasm plugin %s: %w", e.cfg.Name, err)
		}
	}
	inst.initMem = inst.MemorySize()
	s.mem.Store(uint64(inst.initMem))
	return inst, nil
}

// instanceFrom finds the Instance a host function was called from.
func instanceFrom(ctx context.Context, mod api.Module) *Instance {
	if c, ok := ctx.(*callCtx); ok {
		if c.inst.mod == nil {
			c.inst.mod = mod
			c.inst.mem = memoryOf(mod)
		}
		return c.inst
	}
	if v, ok := ctx.Value(instKey{}).(*Instance); ok {
		if v.mod == nil {
			v.mod = mod
			v.mem = memoryOf(mod)
		}
		return v
	}
	// Not called through Instance.Call (should not happen): a detached
	// instance view so that memory access still works.
	return &Instance{mod: mod, mem: memoryOf(mod), broken: true}
}

// memoryOf is mod's memory, nil when it has none (wazero then returns a
// typed nil in the interface, whose methods panic).
func memoryOf(mod api.Module) (m api.Memory) {
	m = mod.Memory()
	if m == nil {
		return nil
	}
	defer func() {
		if recover() != nil {
			m = nil
		}
	}()
	_ = m.Size()
	return m
}

type instKey struct{}

// callCtx is the context of every guest call of one instance: it carries the
// instance to host functions without a context chain walk, and its Done
// channel is closed by the engine's watchdog when a call overruns,
// which makes wazero abort the running code under TerminationContext
// (WithCloseOnContextDone; under TerminationGlobal the watchdog sets the
// abort global instead, and closing the channel only tells host functions).
//
// It has the values of parent but not its cancellation (like
// context.WithoutCancel, which it does not wrap: wazero looks a value up on
// every call, and context.WithoutCancel's Value allocates). parent is the
// instantiating context during instantiation (wazero's experimental
// options are context values) and context.Background() afterwards.
//
// Note that the Done channel does not cost a goroutine per call by itself:
// with WithCloseOnContextDone wazero (v1.12) starts its watcher goroutine
// on every call whatever the context, even one whose Done is nil.
type callCtx struct {
	parent context.Context
	inst   *Instance
	done   chan struct{}
}

func (c *callCtx) Deadline() (time.Time, bool) { return time.Time{}, false }

func (c *callCtx) Done() <-chan struct{} { return c.done }

func (c *callCtx) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

func (c *callCtx) Value(key any) any {
	if _, ok := key.(instKey); ok {
		return c.inst
	}
	return c.parent.Value(key)
}

func (c *callCtx) String() string { return "wasm instance call context" }

type cryptoRand struct{}

func (cryptoRand) Read(p []byte) (int, error) { return randRead(p) }
