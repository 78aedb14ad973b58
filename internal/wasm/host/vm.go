package host

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/wasm/abi"
	"github.com/heimdallgw/heimdall/internal/wasm/engine"
)

// vm is the host state of one instance. It is only touched with the
// instance's slot locked.
type vm struct {
	p    *Plugin
	inst *engine.Instance
	fn   callbacks

	nextID  uint32
	started bool // proxy_on_vm_start ran
	live    int  // streams with a context on this instance
	roots   map[*Factory]*hctx
	ctxs    map[uint32]*hctx

	// cur is the effective context of host calls; active the context of
	// the running callback (set_effective_context changes cur only).
	cur, active *hctx
	// body is the body of the running body callback, for buffer types 0/1.
	body     *filter.Body
	bodyType abi.BufferType
	// callResp is the http call answer during proxy_on_http_call_response.
	callResp *callResponse
	// redisResp is the redis reply during proxy_on_redis_call_response.
	redisResp *redisReply
	// status is what proxy_get_status reports.
	statusCode uint32
	statusMsg  []byte

	// scratch is the guest buffer results may be written into instead of
	// memory from the guest's allocator (heimdall_scratch_v1, see
	// initScratch); size 0 when the guest does not offer one.
	scratchPtr, scratchSize uint32
	// skipPtr is the address of the guest's callback-skip word
	// (heimdall_callbacks_v1, see initSkip); 0 when it has none.
	skipPtr uint32

	buf    []byte     // scratch for encoding maps
	sbuf   [8]byte    // scratch for a :status value
	stack  [16]uint64 // callback arguments and results
	mstack [2]uint64  // allocator call, which nests inside host functions
}

type callbacks struct {
	alloc           engine.Function
	onContextCreate engine.Function
	onVMStart       engine.Function
	onConfigure     engine.Function
	onReqHeaders    engine.Function
	onReqBody       engine.Function
	onReqTrailers   engine.Function
	onRespHeaders   engine.Function
	onRespBody      engine.Function
	onRespTrailers  engine.Function
	onLog           engine.Function
	onDone          engine.Function
	onDelete        engine.Function
	onTick          engine.Function
	onHTTPCallResp  engine.Function
	onQueueReady    engine.Function
	onRedisCallResp engine.Function
}

// hctx is a root or stream context on one instance.
type hctx struct {
	id   uint32
	root *hctx // nil for a root context
	f    *Factory
	// stream contexts
	s *stream
	x *filter.Exchange
	// root contexts
	streams int
	closing bool
	tick    *ticker
	props   map[string][]byte // set_property outside a stream
	deleted bool
}

func (c *hctx) isRoot() bool { return c.root == nil }

// rootOf is the root context of c (c itself for a root).
func (c *hctx) rootOf() *hctx {
	if c.root == nil {
		return c
	}
	return c.root
}

func (p *Plugin) vmOf(inst *engine.Instance) *vm {
	if v, ok := inst.Data.(*vm); ok {
		return v
	}
	v := &vm{p: p, inst: inst, roots: map[*Factory]*hctx{}, ctxs: map[uint32]*hctx{}}
	inst.Data = v
	return v
}

// initInstance runs the guest's start-up on a new instance.
func (p *Plugin) initInstance(inst *engine.Instance) error {
	v := p.vmOf(inst)
	v.inst = inst
	lk := inst.Lookup
	v.fn = callbacks{
		alloc:           lk("proxy_on_memory_allocate"),
		onContextCreate: lk("proxy_on_context_create"),
		onVMStart:       lk("proxy_on_vm_start"),
		onConfigure:     lk("proxy_on_configure"),
		onReqHeaders:    lk("proxy_on_request_headers"),
		onReqBody:       lk("proxy_on_request_body"),
		onReqTrailers:   lk("proxy_on_request_trailers"),
		onRespHeaders:   lk("proxy_on_response_headers"),
		onRespBody:      lk("proxy_on_response_body"),
		onRespTrailers:  lk("proxy_on_response_trailers"),
		onLog:           lk("proxy_on_log"),
		onDone:          lk("proxy_on_done"),
		onDelete:        lk("proxy_on_delete"),
		onTick:          lk("proxy_on_tick"),
		onHTTPCallResp:  lk("proxy_on_http_call_response"),
		onQueueReady:    lk("proxy_on_queue_ready"),
		onRedisCallResp: lk("proxy_on_redis_call_response"),
	}
	if !v.fn.alloc.Valid() {
		v.fn.alloc = lk("malloc")
	}
	// A reactor exports _initialize; a command _start (whose main must
	// return without exiting). Neither: a start section already ran.
	for _, name := range []string{"_initialize", "_start"} {
		if f := lk(name); f.Valid() {
			if err := inst.Call(f, v.stack[:max(f.ResultCount(), 1)]); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			break
		}
	}
	if err := v.initScratch(); err != nil {
		return err
	}
	return v.initSkip()
}

// initSkip asks a guest that exports heimdall_callbacks_v1 (the repo's SDK)
// where its callback-skip word is (see abi.SkipLog and the others).
func (v *vm) initSkip() error {
	v.skipPtr = 0
	f := v.inst.Lookup("heimdall_callbacks_v1")
	if !f.Valid() || f.ParamCount() != 0 || f.ResultCount() != 1 {
		return nil // absent, or not ours: every callback is called
	}
	if err := v.inst.Call(f, v.stack[:1]); err != nil {
		return fmt.Errorf("heimdall_callbacks_v1: %w", err)
	}
	ptr := uint32(v.stack[0])
	if _, ok := v.inst.ReadUint32(ptr); !ok || ptr == 0 {
		return nil
	}
	v.skipPtr = ptr
	return nil
}

// skips reads the guest's callback-skip word (0 when it has none).
func (v *vm) skips() uint32 {
	if v.skipPtr == 0 {
		return 0
	}
	m, _ := v.inst.ReadUint32(v.skipPtr)
	return m
}

// skipPhases are the filter phases a skip word lets a stream leave out.
// PhaseDone stays: proxy_on_delete is always called.
func skipPhases(m uint32) filter.Phase {
	var ph filter.Phase
	for _, b := range [...]struct {
		bit uint32
		ph  filter.Phase
	}{
		{abi.SkipRequestHeaders, filter.PhaseRequestHeaders},
		{abi.SkipRequestBody, filter.PhaseRequestBody},
		{abi.SkipRequestTrailers, filter.PhaseRequestTrailers},
		{abi.SkipResponseHeaders, filter.PhaseResponseHeaders},
		{abi.SkipResponseBody, filter.PhaseResponseBody},
		{abi.SkipResponseTrailers, filter.PhaseResponseTrailers},
		{abi.SkipLog, filter.PhaseLog},
	} {
		if m&b.bit != 0 {
			ph |= b.ph
		}
	}
	return ph
}

// initScratch asks a guest that exports heimdall_scratch_v1 (the repo's
// SDK) for its scratch buffer. The function returns the address of two
// little-endian u32s, the buffer's address and size; a result of a host
// call that fits is then written there instead of into memory from
// proxy_on_memory_allocate, which is a nested guest call per result. The
// guest copies the result out before its next host call (it is only valid
// until then). Other guests keep the standard ABI: the host allocates every
// result through the guest's allocator and the guest owns it.
func (v *vm) initScratch() error {
	v.scratchPtr, v.scratchSize = 0, 0
	f := v.inst.Lookup("heimdall_scratch_v1")
	if !f.Valid() {
		return nil
	}
	if f.ParamCount() != 0 || f.ResultCount() != 1 {
		return nil // not ours: ignore it
	}
	if err := v.inst.Call(f, v.stack[:1]); err != nil {
		return fmt.Errorf("heimdall_scratch_v1: %w", err)
	}
	desc := uint32(v.stack[0])
	ptr, ok1 := v.inst.ReadUint32(desc)
	size, ok2 := v.inst.ReadUint32(desc + 4)
	if !ok1 || !ok2 || ptr == 0 || size == 0 {
		return nil
	}
	if _, ok := v.inst.Read(ptr, size); !ok {
		return nil
	}
	v.scratchPtr, v.scratchSize = ptr, size
	return nil
}

// instanceClosed stops what refers to a discarded instance.
func (p *Plugin) instanceClosed(inst *engine.Instance) {
	v, ok := inst.Data.(*vm)
	if !ok {
		return
	}
	for _, r := range v.roots {
		r.tick.stop()
	}
	p.wakeStreams(v)
	for _, c := range v.ctxs {
		c.deleted = true
	}
}

func (v *vm) newID() uint32 {
	v.nextID++
	return v.nextID
}

// call runs a callback for context c and returns its first result (0 when
// it has none). Arguments are passed in v.stack.
func (v *vm) call(fn engine.Function, c *hctx, args ...uint64) (uint64, error) {
	if !fn.Valid() {
		return 0, nil
	}
	n := copy(v.stack[:], args)
	for i := n; i < fn.ParamCount(); i++ {
		v.stack[i] = 0 // an older ABI's arity: missing args are 0
	}
	prevCur, prevActive := v.cur, v.active
	v.cur, v.active = c, c
	var start time.Time
	if v.p.cfg.Trace != nil {
		start = v.traceStart(fn, c, args)
	}
	err := v.inst.Call(fn, v.stack[:max(fn.ParamCount(), fn.ResultCount(), 1)])
	v.cur, v.active = prevCur, prevActive
	if v.p.cfg.Trace != nil {
		v.traceCallback(fn, c, args, start, err)
	}
	if err != nil {
		return 0, err
	}
	if fn.ResultCount() == 0 {
		return 0, nil
	}
	return v.stack[0], nil
}

// callCtx is call without a result.
func (v *vm) callCtx(fn engine.Function, c *hctx, args ...uint64) error {
	_, err := v.call(fn, c, args...)
	return err
}

// root returns f's root context on this instance, creating and configuring
// it when needed.
func (v *vm) root(f *Factory) (*hctx, error) {
	if r := v.roots[f]; r != nil {
		return r, nil
	}
	p := v.p
	r := &hctx{id: v.newID(), f: f}
	v.ctxs[r.id] = r
	v.roots[f] = r
	fail := func(what string, err error) (*hctx, error) {
		if err != nil {
			v.trapped(r, what, err)
			return nil, fmt.Errorf("wasm plugin %s: %s: %w", p.cfg.Name, what, err)
		}
		delete(v.roots, f)
		delete(v.ctxs, r.id)
		r.deleted = true
		return nil, fmt.Errorf("wasm plugin %s: %w", p.cfg.Name, ErrRejected)
	}
	if err := v.callCtx(v.fn.onContextCreate, r, uint64(r.id), 0); err != nil {
		return fail("proxy_on_context_create", err)
	}
	if !v.started {
		ok, err := v.call(v.fn.onVMStart, r, uint64(r.id), uint64(len(p.cfg.VMConfig)))
		if err != nil {
			return fail("proxy_on_vm_start", err)
		}
		if v.fn.onVMStart.Valid() && uint32(ok) == 0 {
			v.inst.Break()
			delete(v.roots, f)
			return nil, fmt.Errorf("wasm plugin %s: proxy_on_vm_start failed", p.cfg.Name)
		}
		v.started = true
	}
	ok, err := v.call(v.fn.onConfigure, r, uint64(r.id), uint64(len(f.conf)))
	if err != nil {
		return fail("proxy_on_configure", err)
	}
	if v.fn.onConfigure.Valid() && uint32(ok) == 0 {
		// Envoy deletes a rejected root context.
		_ = v.callCtx(v.fn.onDelete, r, uint64(r.id))
		return fail("", nil)
	}
	return r, nil
}

// deleteRoot ends a root context: proxy_on_done then proxy_on_delete.
func (v *vm) deleteRoot(r *hctx) {
	if r.deleted {
		return
	}
	r.tick.stop()
	if _, err := v.call(v.fn.onDone, r, uint64(r.id)); err != nil {
		v.trapped(r, "proxy_on_done", err)
	} else if err := v.callCtx(v.fn.onDelete, r, uint64(r.id)); err != nil {
		v.trapped(r, "proxy_on_delete", err)
	}
	r.deleted = true
	delete(v.ctxs, r.id)
	if v.roots[r.f] == r {
		delete(v.roots, r.f)
	}
}

// trapped logs a failed guest call; the engine discards the instance.
func (v *vm) trapped(c *hctx, what string, err error) {
	l := v.p.log
	if c != nil && c.x != nil && c.x.Log != nil {
		l = c.x.Log.With(slog.String("plugin", v.p.cfg.Name))
	}
	attrs := []any{slog.String("callback", what), slog.Any("error", err)}
	if c != nil {
		attrs = append(attrs, slog.Uint64("context_id", uint64(c.id)))
	}
	if errors.Is(err, engine.ErrTimeout) {
		l.Error("wasm plugin callback exceeded its deadline; instance replaced", attrs...)
	} else {
		l.Error("wasm plugin trapped; instance replaced", attrs...)
	}
	v.inst.Break()
}

// ticker runs proxy_on_tick for one root context.
type ticker struct {
	period time.Duration
	stopc  chan struct{}
}

func (t *ticker) stop() {
	if t == nil {
		return
	}
	select {
	case <-t.stopc:
	default:
		close(t.stopc)
	}
}

// setTick (re)starts r's tick timer; 0 stops it.
func (v *vm) setTick(r *hctx, period time.Duration) {
	r.tick.stop()
	r.tick = nil
	if period <= 0 {
		return
	}
	t := &ticker{period: period, stopc: make(chan struct{})}
	r.tick = t
	p, slot, gen := v.p, v.inst.Slot(), v.inst.Gen
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tk := time.NewTicker(period)
		defer tk.Stop()
		for {
			select {
			case <-t.stopc:
				return
			case <-p.ctx.Done():
				return
			case <-tk.C:
			}
			if !p.onInstance(slot, gen, func(v *vm) {
				if r.deleted {
					return
				}
				if err := v.callCtx(v.fn.onTick, r, uint64(r.id)); err != nil {
					v.trapped(r, "proxy_on_tick", err)
				}
			}) {
				return
			}
		}
	}()
}

// onInstance runs fn with slot locked when it still holds generation gen.
func (p *Plugin) onInstance(slot *engine.Slot, gen uint64, fn func(v *vm)) bool {
	inst := slot.LockExisting()
	defer slot.Unlock()
	if inst == nil || inst.Gen != gen {
		return false
	}
	fn(p.vmOf(inst))
	return true
}
