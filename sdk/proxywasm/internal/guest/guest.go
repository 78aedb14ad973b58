// Package guest is the plugin-side dispatcher of proxy-wasm callbacks: it
// owns the registered VMContext, the plugin and stream contexts by id, the
// current (active) context and the Host through which host calls go.
//
// Under GOOS=wasip1 the exported proxy_on_* functions (exports_wasip1.go)
// call into it and the Host is the real import set; natively the proxytest
// emulator installs itself as the Host and drives the same entry points, so
// tests run exactly the dispatch code a plugin runs in a gateway.
package guest

import (
	"github.com/heimdallgw/heimdall/sdk/proxywasm/internal/abi"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/internal/defaults"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

// HttpCallback receives the answer of a DispatchHttpCall.
type HttpCallback func(numHeaders, bodySize, numTrailers int)

type pluginState struct {
	ctx       types.PluginContext
	callbacks map[uint32]pendingCall
	redis     map[uint32]pendingRedis // redis.go
}

type pendingCall struct {
	callback  HttpCallback
	contextID uint32 // context that dispatched the call
}

type httpState struct {
	ctx    types.HttpContext
	kind   *kind // skip.go
	rootID uint32
	done   bool
}

type tcpState struct {
	ctx    types.TcpContext
	rootID uint32
	done   bool
}

// State is everything a module instance knows about its contexts.
type State struct {
	host    abi.Host
	vm      types.VMContext
	plugins map[uint32]*pluginState
	https   map[uint32]*httpState
	tcps    map[uint32]*tcpState
	active  uint32
	// freeHttp are httpStates of deleted streams, for the next ones: a
	// stream per request must not cost a guest allocation (~250 ns).
	freeHttp []*httpState
	// kinds and skip: skip.go.
	kinds []*kind
	skip  uint32
}

// maxFreeHttp bounds freeHttp (a burst of concurrent streams on one
// instance is not kept around forever).
const maxFreeHttp = 64

func (s *State) newHttpState(hc types.HttpContext, rootID uint32) *httpState {
	if n := len(s.freeHttp); n > 0 {
		h := s.freeHttp[n-1]
		s.freeHttp[n-1] = nil
		s.freeHttp = s.freeHttp[:n-1]
		*h = httpState{ctx: hc, kind: s.kindOf(hc), rootID: rootID}
		return h
	}
	return &httpState{ctx: hc, kind: s.kindOf(hc), rootID: rootID}
}

func (s *State) freeHttpState(h *httpState) {
	if len(s.freeHttp) < maxFreeHttp {
		*h = httpState{} // drop the plugin's context
		s.freeHttp = append(s.freeHttp, h)
	}
}

// state is the module's single dispatcher. A wasm module's exports are
// module-level functions, so the contexts they reach must be module-level
// too; this is the only such variable besides the allocation arena.
var state = newState()

func newState() *State {
	return &State{
		plugins: map[uint32]*pluginState{},
		https:   map[uint32]*httpState{},
		tcps:    map[uint32]*tcpState{},
		skip:    defaults.Done,
	}
}

// Current returns the dispatcher.
func Current() *State { return state }

// Reset drops every context and installs host and vm; the emulator calls it
// when it starts and when it is released.
func Reset(host abi.Host, vm types.VMContext) {
	state = newState()
	skipWord = state.skip
	state.host = host
	state.vm = vm
}

// SetVMContext registers the plugin's VMContext.
func (s *State) SetVMContext(vm types.VMContext) { s.vm = vm }

// Host returns the host of this module. Natively, without an emulator, it
// panics: host calls only make sense inside a proxy-wasm host.
func (s *State) Host() abi.Host {
	if s.host == nil {
		panic("proxywasm: no proxy-wasm host; natively, start a proxytest emulator first")
	}
	return s.host
}

// ActiveContextID is the id of the context whose callback is running (or
// the one set by SetEffectiveContext).
func (s *State) ActiveContextID() uint32 { return s.active }

// SetActiveContextID records an effective context switch.
func (s *State) SetActiveContextID(id uint32) { s.active = id }

// RegisterHttpCallback stores cb for the answer to calloutID, in the plugin
// context the active context belongs to.
func (s *State) RegisterHttpCallback(calloutID uint32, cb HttpCallback) {
	root := s.rootOf(s.active)
	if root == nil {
		return
	}
	if root.callbacks == nil {
		root.callbacks = map[uint32]pendingCall{}
	}
	root.callbacks[calloutID] = pendingCall{callback: cb, contextID: s.active}
}

func (s *State) rootOf(id uint32) *pluginState {
	if p, ok := s.plugins[id]; ok {
		return p
	}
	if h, ok := s.https[id]; ok {
		return s.plugins[h.rootID]
	}
	if t, ok := s.tcps[id]; ok {
		return s.plugins[t.rootID]
	}
	return nil
}

// Contexts reports how many plugin, HTTP and TCP contexts are alive; tests
// use it to check that finished streams are forgotten.
func (s *State) Contexts() (plugins, https, tcps int) {
	return len(s.plugins), len(s.https), len(s.tcps)
}

// PluginContext returns the plugin context id, if any.
func (s *State) PluginContext(id uint32) types.PluginContext {
	if p, ok := s.plugins[id]; ok {
		return p.ctx
	}
	return nil
}

// HttpContext returns the HTTP context id, if any.
func (s *State) HttpContext(id uint32) types.HttpContext {
	if h, ok := s.https[id]; ok {
		return h.ctx
	}
	return nil
}

// --- callbacks -------------------------------------------------------------

// OnContextCreate is proxy_on_context_create.
func (s *State) OnContextCreate(id, parentID uint32) {
	s.active = id
	if parentID == 0 {
		if s.vm == nil {
			s.logMissingVM()
			return
		}
		if pc := s.vm.NewPluginContext(id); pc != nil {
			s.plugins[id] = &pluginState{ctx: pc}
		}
		return
	}
	root, ok := s.plugins[parentID]
	if !ok {
		return
	}
	if hc := root.ctx.NewHttpContext(id); hc != nil {
		s.https[id] = s.newHttpState(hc, parentID)
		return
	}
	if tc := root.ctx.NewTcpContext(id); tc != nil {
		s.tcps[id] = &tcpState{ctx: tc, rootID: parentID}
	}
}

func (s *State) logMissingVM() {
	if s.host != nil {
		s.host.Log(types.LogLevelCritical, "proxywasm: no VMContext registered; call proxywasm.SetVMContext in main or init")
	}
}

// OnVMStart is proxy_on_vm_start.
func (s *State) OnVMStart(rootID uint32, vmConfSize int) bool {
	s.active = rootID
	if s.vm == nil {
		s.logMissingVM()
		return false
	}
	return s.vm.OnVMStart(vmConfSize)
}

// OnConfigure is proxy_on_configure.
func (s *State) OnConfigure(rootID uint32, confSize int) bool {
	s.active = rootID
	p, ok := s.plugins[rootID]
	if !ok {
		return false
	}
	return p.ctx.OnPluginStart(confSize)
}

// OnTick is proxy_on_tick.
func (s *State) OnTick(rootID uint32) {
	s.active = rootID
	if p, ok := s.plugins[rootID]; ok {
		p.ctx.OnTick()
	}
}

// OnQueueReady is proxy_on_queue_ready.
func (s *State) OnQueueReady(rootID, queueID uint32) {
	s.active = rootID
	if p, ok := s.plugins[rootID]; ok {
		p.ctx.OnQueueReady(queueID)
	}
}

// OnForeignFunction is proxy_on_foreign_function.
func (s *State) OnForeignFunction(rootID, functionID uint32, argsSize int) {
	s.active = rootID
	if p, ok := s.plugins[rootID]; ok {
		if h, ok := p.ctx.(types.ForeignFunctionHandler); ok {
			h.OnForeignFunction(functionID, argsSize)
		}
	}
}

// OnHttpCallResponse is proxy_on_http_call_response. The callback runs with
// the dispatching stream as the effective context, so it can resume or
// answer that stream.
func (s *State) OnHttpCallResponse(rootID, calloutID uint32, numHeaders, bodySize, numTrailers int) {
	s.active = rootID
	p, ok := s.plugins[rootID]
	if !ok {
		return
	}
	call, ok := p.callbacks[calloutID]
	if !ok {
		return
	}
	delete(p.callbacks, calloutID)
	if call.contextID != rootID {
		_, isHttp := s.https[call.contextID]
		_, isTcp := s.tcps[call.contextID]
		if !isHttp && !isTcp {
			return // the stream is gone; nothing left to act on
		}
		if s.host != nil && s.host.SetEffectiveContext(call.contextID) == types.StatusOK {
			s.active = call.contextID
		}
	}
	call.callback(numHeaders, bodySize, numTrailers)
}

// OnRequestHeaders is proxy_on_request_headers.
func (s *State) OnRequestHeaders(id uint32, numHeaders int, eos bool) types.Action {
	return s.onHttp(id, defaults.RequestHeaders, numHeaders, eos)
}

// OnRequestBody is proxy_on_request_body.
func (s *State) OnRequestBody(id uint32, bodySize int, eos bool) types.Action {
	return s.onHttp(id, defaults.RequestBody, bodySize, eos)
}

// OnRequestTrailers is proxy_on_request_trailers.
func (s *State) OnRequestTrailers(id uint32, numTrailers int) types.Action {
	return s.onHttp(id, defaults.RequestTrailers, numTrailers, false)
}

// OnResponseHeaders is proxy_on_response_headers.
func (s *State) OnResponseHeaders(id uint32, numHeaders int, eos bool) types.Action {
	return s.onHttp(id, defaults.ResponseHeaders, numHeaders, eos)
}

// OnResponseBody is proxy_on_response_body.
func (s *State) OnResponseBody(id uint32, bodySize int, eos bool) types.Action {
	return s.onHttp(id, defaults.ResponseBody, bodySize, eos)
}

// OnResponseTrailers is proxy_on_response_trailers.
func (s *State) OnResponseTrailers(id uint32, numTrailers int) types.Action {
	return s.onHttp(id, defaults.ResponseTrailers, numTrailers, false)
}

// onHttp runs the HTTP callback named by bit (a defaults bit) for stream
// id, watching whether it is a no-op while the stream's kind has not
// learned that yet (skip.go).
func (s *State) onHttp(id, bit uint32, n int, eos bool) types.Action {
	s.active = id
	h, ok := s.https[id]
	if !ok {
		return types.ActionContinue
	}
	w, pl, ph := h.kind.watch(bit)
	a := callHttp(h.ctx, bit, n, eos)
	if w {
		s.learned(h.kind, bit, pl, ph)
	}
	return a
}

// callHttp calls c's method for callback bit; n is the header, trailer or
// body size the callback receives.
func callHttp(c types.HttpContext, bit uint32, n int, eos bool) types.Action {
	switch bit {
	case defaults.RequestHeaders:
		return c.OnHttpRequestHeaders(n, eos)
	case defaults.RequestBody:
		return c.OnHttpRequestBody(n, eos)
	case defaults.RequestTrailers:
		return c.OnHttpRequestTrailers(n)
	case defaults.ResponseHeaders:
		return c.OnHttpResponseHeaders(n, eos)
	case defaults.ResponseBody:
		return c.OnHttpResponseBody(n, eos)
	case defaults.ResponseTrailers:
		return c.OnHttpResponseTrailers(n)
	}
	return types.ActionContinue
}

// OnNewConnection is proxy_on_new_connection.
func (s *State) OnNewConnection(id uint32) types.Action {
	s.active = id
	if t, ok := s.tcps[id]; ok {
		return t.ctx.OnNewConnection()
	}
	return types.ActionContinue
}

// OnDownstreamData is proxy_on_downstream_data.
func (s *State) OnDownstreamData(id uint32, size int, eos bool) types.Action {
	s.active = id
	if t, ok := s.tcps[id]; ok {
		return t.ctx.OnDownstreamData(size, eos)
	}
	return types.ActionContinue
}

// OnDownstreamClose is proxy_on_downstream_connection_close.
func (s *State) OnDownstreamClose(id uint32, peer types.PeerType) {
	s.active = id
	if t, ok := s.tcps[id]; ok {
		t.ctx.OnDownstreamClose(peer)
	}
}

// OnUpstreamData is proxy_on_upstream_data.
func (s *State) OnUpstreamData(id uint32, size int, eos bool) types.Action {
	s.active = id
	if t, ok := s.tcps[id]; ok {
		return t.ctx.OnUpstreamData(size, eos)
	}
	return types.ActionContinue
}

// OnUpstreamClose is proxy_on_upstream_connection_close.
func (s *State) OnUpstreamClose(id uint32, peer types.PeerType) {
	s.active = id
	if t, ok := s.tcps[id]; ok {
		t.ctx.OnUpstreamClose(peer)
	}
}

// OnDone is proxy_on_done: plugin contexts decide, streams are always done.
func (s *State) OnDone(id uint32) bool {
	s.active = id
	if p, ok := s.plugins[id]; ok {
		return p.ctx.OnPluginDone()
	}
	return true
}

// OnLog is proxy_on_log: the stream's final callback while its headers are
// still readable, so OnHttpStreamDone runs here.
func (s *State) OnLog(id uint32) {
	s.active = id
	if h, ok := s.https[id]; ok && !h.done {
		h.done = true
		w, pl, ph := h.kind.watch(defaults.Log)
		h.ctx.OnHttpStreamDone()
		if w {
			s.learned(h.kind, defaults.Log, pl, ph)
		}
		return
	}
	s.finish(id)
}

func (s *State) finish(id uint32) {
	if h, ok := s.https[id]; ok && !h.done {
		h.done = true
		h.ctx.OnHttpStreamDone()
	}
	if t, ok := s.tcps[id]; ok && !t.done {
		t.done = true
		t.ctx.OnStreamDone()
	}
}

// OnDelete is proxy_on_delete: the context is forgotten. A stream whose
// host never called proxy_on_log still gets its done callback.
func (s *State) OnDelete(id uint32) {
	s.active = id
	s.finish(id)
	if h, ok := s.https[id]; ok {
		delete(s.https, id)
		s.freeHttpState(h)
	}
	delete(s.tcps, id)
	delete(s.plugins, id)
	s.active = 0
}
