// Package host is Heimdall's proxy-wasm host: it loads a plugin (through
// package engine), drives the proxy-wasm lifecycle as Envoy does, implements
// the env.proxy_* host functions, and adapts each configured plugin to the
// filter chain (a Factory per route + plugin, a StreamFilter per request).
//
// Lifecycle on every instance: a root context per Factory is created lazily
// when a stream first lands on the instance — proxy_on_context_create(root, 0),
// proxy_on_vm_start once per instance, proxy_on_configure — then per stream
// proxy_on_context_create(id, root), the HTTP callbacks, proxy_on_log,
// proxy_on_done and proxy_on_delete. See README.md for the ABI support table.
package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heimdallgw/heimdall/internal/egress"
	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/wasm/abi"
	"github.com/heimdallgw/heimdall/internal/wasm/engine"
)

// BodyMode says when a plugin's body callbacks run.
type BodyMode string

// Body modes.
const (
	// BodyAlways runs body callbacks whenever the plugin exports them
	// (Envoy). The default.
	BodyAlways BodyMode = "always"
	// BodyOnRequestProperty runs them only after the plugin set property
	// wasm_process_req_body / wasm_process_resp_body on the stream (APISIX).
	BodyOnRequestProperty BodyMode = "on_request_property"
)

// APISIX properties that ask for body callbacks.
const (
	PropProcessReqBody  = "wasm_process_req_body"
	PropProcessRespBody = "wasm_process_resp_body"
)

// PluginConfig describes one wasm plugin (config.yaml wasm.plugins[]).
type PluginConfig struct {
	Name string
	// File is the .wasm path; Wasm, when set, is used instead.
	File string
	Wasm []byte
	// Priority orders plugins on a route (higher first); kept for the
	// gateway, the host does not use it.
	Priority int
	// PoolSize is the number of instances; 0 = GOMAXPROCS.
	PoolSize int
	BodyMode BodyMode
	// VMConfig is given to proxy_on_vm_start (buffer type 6).
	VMConfig []byte
	// VMID is property plugin_vm_id and the shared-data namespace.
	VMID string
	// RootID is property plugin_root_id; "" = Name.
	RootID string
	// Cache is a compilation cache shared by plugins; else CacheDir ("" =
	// engine.DefaultCacheDir()) unless NoCache.
	Cache    *engine.Cache
	CacheDir string
	NoCache  bool
	// MemoryLimitPages caps each instance's memory (0 = engine default).
	MemoryLimitPages uint32
	// CallTimeout bounds each callback (0 = engine.DefaultCallTimeout).
	CallTimeout time.Duration
	// Uninterruptible turns the callback deadline off for a trusted plugin
	// (see engine.Config.Uninterruptible): calls are much cheaper, a
	// runaway one cannot be stopped.
	Uninterruptible bool
	// Extensions add host functions (WasmEdge sockets).
	Extensions []engine.Extension
	// Shared is the process-wide shared data and queue store; nil gives
	// the plugin its own.
	Shared *Shared

	// Failure handling and resource limits (config.yaml wasm.plugins[]:
	// failure_policy, memory_limit, memory_budget, memory_recycle, max_*).
	//
	// FailurePolicy says what a request gets when the plugin fails on it
	// (a trap, a deadline, an instance in backoff); "" = FailClosed.
	FailurePolicy FailurePolicy
	// MemoryBudget caps the linear memory of all instances together and
	// RecycleBytes is the size past which an idle instance is replaced
	// (see engine.Config); 0 = the engine's defaults.
	MemoryBudget, RecycleBytes uint64
	// Limits bound what the plugin may make the host hold.
	Limits Limits
	// Backoff paces the replacement of failed instances (zero: the
	// engine's defaults).
	Backoff engine.Backoff

	// Upstreams resolves the upstream names of proxy_http_call and
	// proxy_redis_init (apisix.yaml upstream ids, Envoy's clusters) to the
	// "host:port" of a node. Other upstream arguments are literal
	// destinations for Egress to check; neither → BadArgument (as Envoy
	// for an unknown cluster).
	Upstreams func(name string) (addr string, ok bool)
	// Egress is the plugin's outbound policy, the one its sockets
	// Extension uses too; nil refuses every literal destination (named
	// upstreams stay allowed).
	Egress *egress.Checker
	// MaxPendingHTTPCalls bounds the proxy_http_calls waiting for an
	// answer; 0 = DefaultMaxPendingHTTPCalls.
	MaxPendingHTTPCalls int
	// Trace, when set, receives every host call and callback, decoded
	// (heimdall plugin run --trace); nil costs nothing.
	Trace Tracer
}

// Plugin is one loaded wasm plugin: the compiled module and its instances.
type Plugin struct {
	cfg     PluginConfig
	log     *slog.Logger
	eng     *engine.Engine
	version abi.Version
	exports exports
	level   abi.LogLevel
	metrics metrics
	shared  *Shared
	calls   caller
	redis   redisClients
	// egress checks every destination the plugin reaches through the
	// host (http_call, Redis); maxPending bounds pending http_calls.
	egress     *egress.Checker
	maxPending int

	ctx    context.Context // for guest calls made outside a request
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	factories map[*Factory]struct{}
	closed    bool

	failed     atomic.Uint64 // streams failed (closed) or skipped (open)
	limitHits  atomic.Uint64 // Limits exceeded
	limitLogAt atomic.Int64  // last "limit exceeded" log line (unix ns)
}

// exports records which callbacks the guest has.
type exports struct {
	reqHeaders, reqBody, reqTrailers    bool
	respHeaders, respBody, respTrailers bool
}

// Load compiles the plugin and checks its ABI version and imports. Instances
// are created lazily (NewFactory creates the first).
func Load(ctx context.Context, cfg PluginConfig, log *slog.Logger) (*Plugin, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Name == "" {
		return nil, errors.New("wasm plugin: empty name")
	}
	if cfg.BodyMode == "" {
		cfg.BodyMode = BodyAlways
	}
	if cfg.BodyMode != BodyAlways && cfg.BodyMode != BodyOnRequestProperty {
		return nil, fmt.Errorf("wasm plugin %s: unknown body mode %q", cfg.Name, cfg.BodyMode)
	}
	if cfg.RootID == "" {
		cfg.RootID = cfg.Name
	}
	switch cfg.FailurePolicy {
	case "":
		cfg.FailurePolicy = FailClosed
	case FailClosed, FailOpen:
	default:
		return nil, fmt.Errorf("wasm plugin %s: unknown failure policy %q", cfg.Name, cfg.FailurePolicy)
	}
	cfg.Limits = cfg.Limits.withDefaults()
	wasm := cfg.Wasm
	if wasm == nil {
		b, err := os.ReadFile(cfg.File)
		if err != nil {
			return nil, fmt.Errorf("wasm plugin %s: %w", cfg.Name, err)
		}
		wasm = b
	}
	p := &Plugin{
		cfg:        cfg,
		log:        log.With(slog.String("plugin", cfg.Name)),
		shared:     cfg.Shared,
		factories:  map[*Factory]struct{}{},
		egress:     cfg.Egress,
		maxPending: cfg.MaxPendingHTTPCalls,
	}
	if p.egress == nil {
		var err error
		if p.egress, err = egress.New(egress.Config{Plugin: cfg.Name, Logger: log}); err != nil {
			return nil, fmt.Errorf("wasm plugin %s: %w", cfg.Name, err)
		}
	}
	if p.maxPending <= 0 {
		p.maxPending = DefaultMaxPendingHTTPCalls
	}
	if p.shared == nil {
		p.shared = NewShared()
	}
	p.level = levelOf(ctx, log)
	p.ctx, p.cancel = context.WithCancel(context.WithoutCancel(ctx))
	var traceHost engine.HostCallTrace
	if cfg.Trace != nil {
		traceHost = p.traceHost
	}
	eng, err := engine.New(ctx, engine.Config{
		Name:             cfg.Name,
		Wasm:             wasm,
		Cache:            cfg.Cache,
		CacheDir:         cfg.CacheDir,
		NoCache:          cfg.NoCache,
		PoolSize:         cfg.PoolSize,
		MemoryLimitPages: cfg.MemoryLimitPages,
		MemoryBudget:     cfg.MemoryBudget,
		RecycleBytes:     cfg.RecycleBytes,
		Backoff:          cfg.Backoff,
		CallTimeout:      cfg.CallTimeout,
		Uninterruptible:  cfg.Uninterruptible,
		HostFuncs:        p.hostFuncs(),
		Extensions:       cfg.Extensions,
		Stdout:           newLineWriter(p.ctx, p.log, "stdout", slog.LevelInfo),
		Stderr:           newLineWriter(p.ctx, p.log, "stderr", slog.LevelWarn),
		Init:             p.initInstance,
		Log:              p.log,
		Closed:           p.instanceClosed,
		TraceHost:        traceHost,
	})
	if err != nil {
		p.cancel()
		return nil, err
	}
	p.eng = eng
	p.version, err = abi.DetectVersion(eng.HasExport)
	if err != nil {
		p.cancel()
		_ = eng.Close(ctx)
		return nil, fmt.Errorf("wasm plugin %s: %w", cfg.Name, err)
	}
	if !eng.HasExport("proxy_on_memory_allocate") && !eng.HasExport("malloc") {
		p.cancel()
		_ = eng.Close(ctx)
		return nil, fmt.Errorf("wasm plugin %s exports neither proxy_on_memory_allocate nor malloc", cfg.Name)
	}
	p.exports = exports{
		reqHeaders:   eng.HasExport("proxy_on_request_headers"),
		reqBody:      eng.HasExport("proxy_on_request_body"),
		reqTrailers:  eng.HasExport("proxy_on_request_trailers"),
		respHeaders:  eng.HasExport("proxy_on_response_headers"),
		respBody:     eng.HasExport("proxy_on_response_body"),
		respTrailers: eng.HasExport("proxy_on_response_trailers"),
	}
	return p, nil
}

// Name is the plugin name.
func (p *Plugin) Name() string { return p.cfg.Name }

// Priority is the configured priority.
func (p *Plugin) Priority() int { return p.cfg.Priority }

// Version is the detected ABI version.
func (p *Plugin) Version() abi.Version { return p.version }

// Close releases every root context, stops timers and calls, and closes
// the instances.
func (p *Plugin) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	fs := make([]*Factory, 0, len(p.factories))
	for f := range p.factories {
		fs = append(fs, f)
	}
	p.mu.Unlock()
	for _, f := range fs {
		_ = f.Close()
	}
	p.cancel()
	p.wg.Wait()
	p.closeIdleCalls()
	return p.eng.Close(ctx)
}

func levelOf(ctx context.Context, l *slog.Logger) abi.LogLevel {
	switch {
	case l.Enabled(ctx, slog.LevelDebug-4):
		return abi.LogTrace
	case l.Enabled(ctx, slog.LevelDebug):
		return abi.LogDebug
	case l.Enabled(ctx, slog.LevelInfo):
		return abi.LogInfo
	case l.Enabled(ctx, slog.LevelWarn):
		return abi.LogWarn
	case l.Enabled(ctx, slog.LevelError):
		return abi.LogError
	}
	return abi.LogCritical
}

func slogLevel(l abi.LogLevel) slog.Level {
	switch l {
	case abi.LogTrace:
		return slog.LevelDebug - 4
	case abi.LogDebug:
		return slog.LevelDebug
	case abi.LogInfo:
		return slog.LevelInfo
	case abi.LogWarn:
		return slog.LevelWarn
	case abi.LogError:
		return slog.LevelError
	}
	return slog.LevelError + 4
}

// ErrRejected is wrapped by NewFactory when on_configure returns false.
var ErrRejected = errors.New("plugin rejected its configuration")

// Factory is one plugin configuration (route + plugin): one root context
// per instance. It implements filter.Factory and io.Closer.
type Factory struct {
	p    *Plugin
	key  string
	conf []byte

	mu     sync.Mutex
	closed bool
}

// NewFactory configures the plugin for one route (key, e.g. the route id)
// with conf (the route's plugin conf, JSON-encoded when it was an object).
// The configuration is applied eagerly on one instance so that a rejection
// (on_configure returning false) surfaces here.
func (p *Plugin) NewFactory(ctx context.Context, key string, conf []byte) (*Factory, error) {
	f := &Factory{p: p, key: key, conf: append([]byte(nil), conf...)}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, fmt.Errorf("wasm plugin %s: %w", p.cfg.Name, engine.ErrClosed)
	}
	p.mu.Unlock()
	// Configure every instance now rather than when a request first lands
	// on one: on_configure may do slow work (network I/O through the socket
	// ABI), which belongs to the reload, not to a request. One instance at
	// a time, so the others keep serving (Engine.Pick prefers a free one).
	// Instances replaced after a failure are configured lazily.
	slots := p.eng.Slots()
	for _, slot := range slots {
		inst, err := slot.Lock(p.ctx)
		if err == nil {
			_, err = p.vmOf(inst).root(f)
		}
		slot.Unlock()
		if err != nil {
			f.Close() // the root contexts the other instances created
			// The caller names the route (the gateway with apisix.yaml's line).
			return nil, err
		}
	}
	p.mu.Lock()
	p.factories[f] = struct{}{}
	p.mu.Unlock()
	return f, nil
}

// Name implements filter.Factory.
func (f *Factory) Name() string { return f.p.cfg.Name }

// Key is the route key the factory was made for.
func (f *Factory) Key() string { return f.key }

// Close calls proxy_on_done / proxy_on_delete for the factory's root contexts
// on every instance (after their last stream when streams are active).
func (f *Factory) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	f.mu.Unlock()
	for _, slot := range f.p.eng.Slots() {
		if inst := slot.LockExisting(); inst != nil {
			v := f.p.vmOf(inst)
			if r := v.roots[f]; r != nil {
				r.closing = true
				if r.streams == 0 {
					v.deleteRoot(r)
				}
			}
		}
		slot.Unlock()
	}
	f.p.mu.Lock()
	delete(f.p.factories, f)
	f.p.mu.Unlock()
	return nil
}

func (f *Factory) isClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// NewStreamFilter implements filter.Factory: it places the stream on an
// instance and creates its context there.
func (f *Factory) NewStreamFilter(x *filter.Exchange) (filter.StreamFilter, error) {
	if f.isClosed() {
		return nil, fmt.Errorf("wasm plugin %s: configuration closed", f.p.cfg.Name)
	}
	slot := f.p.eng.Pick()
	inst, err := slot.Lock(f.p.ctx)
	if err != nil {
		slot.Unlock()
		return f.p.unavailable(x, err)
	}
	defer slot.Unlock()
	v := f.p.vmOf(inst)
	r, err := v.root(f)
	if err != nil {
		return f.p.unavailable(x, err)
	}
	s := &stream{f: f, slot: slot, gen: inst.Gen, x: x}
	c := &hctx{id: v.newID(), root: r, f: f, s: s, x: x}
	s.c = c
	v.ctxs[c.id] = c
	r.streams++
	v.live++
	if err := v.callCtx(v.fn.onContextCreate, c, uint64(c.id), uint64(r.id)); err != nil {
		v.trapped(c, "proxy_on_context_create", err)
		return f.p.unavailable(x, fmt.Errorf("wasm plugin %s: %w", f.p.cfg.Name, err))
	}
	// Read after on_context_create: the guest has seen this context's kind.
	m := v.skips()
	s.phases = f.p.basePhases()
	s.skip = skipPhases(m) // Phases leaves them out
	s.skipDone = m&abi.SkipDone != 0
	return s, nil
}

func (p *Plugin) basePhases() filter.Phase {
	ph := filter.PhaseLog | filter.PhaseDone
	e := p.exports
	if e.reqHeaders {
		ph |= filter.PhaseRequestHeaders
	}
	if e.reqTrailers {
		ph |= filter.PhaseRequestTrailers
	}
	if e.respHeaders {
		ph |= filter.PhaseResponseHeaders
	}
	if e.respTrailers {
		ph |= filter.PhaseResponseTrailers
	}
	if p.cfg.BodyMode == BodyAlways {
		if e.reqBody {
			ph |= filter.PhaseRequestBody
		}
		if e.respBody {
			ph |= filter.PhaseResponseBody
		}
	}
	return ph
}

var (
	_ filter.Factory             = (*Factory)(nil)
	_ interface{ Close() error } = (*Factory)(nil)
)
