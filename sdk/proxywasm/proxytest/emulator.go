package proxytest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/heimdallgw/heimdall/sdk/proxywasm/internal/abi"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/internal/guest"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

// running serializes emulators: the SDK's dispatcher is module-level state.
var running sync.Mutex

// PluginContextID is the id of the plugin (root) context the emulator
// creates.
const PluginContextID uint32 = 1

// LogEntry is one proxy_log call.
type LogEntry struct {
	Level   types.LogLevel
	Message string
}

// LocalResponse is a response the plugin sent with SendHttpResponse.
type LocalResponse struct {
	StatusCode uint32
	Details    string
	Headers    [][2]string
	Body       []byte
	GRPCStatus int32
}

// HttpCallout is a request the plugin sent with DispatchHttpCall.
type HttpCallout struct {
	ID        uint32
	ContextID uint32 // context that dispatched it
	Upstream  string
	Headers   [][2]string
	Body      []byte
	Trailers  [][2]string
	TimeoutMs uint32
}

// Stream is a snapshot of an HTTP stream as the host sees it.
type Stream struct {
	RequestHeaders   [][2]string
	RequestTrailers  [][2]string
	ResponseHeaders  [][2]string
	ResponseTrailers [][2]string
	// RequestBody and ResponseBody hold everything forwarded so far plus
	// what the host still buffers for a paused body callback, after the
	// plugin's edits.
	RequestBody  []byte
	ResponseBody []byte
	// LastAction is what the latest stream callback returned.
	LastAction types.Action
	// LocalResponse is set once the plugin answered the stream itself.
	LocalResponse *LocalResponse
	// Resumed/Closed count ResumeHttp*/CloseHttp* calls for the stream.
	RequestResumed, ResponseResumed int
	RequestClosed, ResponseClosed   int
	// Done is set once the stream completed (CompleteHttpContext).
	Done bool
}

type stream struct {
	reqHeaders, reqTrailers, respHeaders, respTrailers [][2]string
	reqSent, reqHeld, respSent, respHeld               []byte
	lastAction                                         types.Action
	local                                              *LocalResponse
	reqResumed, respResumed, reqClosed, respClosed     int
	done                                               bool
}

type callResponse struct {
	headers, trailers [][2]string
	body              []byte
	status            uint32
}

type sharedValue struct {
	value []byte
	cas   uint32
}

type queue struct {
	name  string
	items [][]byte
}

type metric struct {
	typ   types.MetricType
	name  string
	value uint64
}

// HostEmulator is an in-memory proxy-wasm host for one plugin.
type HostEmulator struct {
	opt        *EmulatorOption
	state      *guest.State
	nextID     uint32
	streams    map[uint32]*stream
	logs       []LogEntry
	properties map[string][]byte
	tickPeriod uint32

	shared  map[string]*sharedValue
	queues  []*queue // queue id = index+1
	metrics []*metric

	callouts     map[uint32]*HttpCallout
	nextCallout  uint32
	callResponse *callResponse
	foreignArgs  []byte
	redis        redisEmu // redis.go

	scratch []byte // see result
}

// result returns a host call's result the way Heimdall's host does, in a
// buffer the next host call overwrites, so tests catch SDK code that hands
// out a host result without copying it.
func (h *HostEmulator) result(b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	h.scratch = append(h.buf(), b...)
	return h.scratch
}

// buf returns the result buffer, empty; one backing array, so one result
// overwrites the last.
func (h *HostEmulator) buf() []byte {
	if h.scratch == nil {
		h.scratch = make([]byte, 0, 4096)
	}
	return h.scratch[:0]
}

// NewHostEmulator installs an emulator as the SDK's host, registers the
// VMContext of opt and creates the plugin context (PluginContextID). Call
// StartVM and StartPlugin next. reset releases the emulator; defer it.
func NewHostEmulator(opt *EmulatorOption) (host *HostEmulator, reset func()) {
	running.Lock()
	if opt == nil {
		opt = NewEmulatorOption()
	}
	h := &HostEmulator{
		opt:        opt.clone(),
		nextID:     PluginContextID + 1,
		streams:    map[uint32]*stream{},
		properties: maps.Clone(opt.properties),
		shared:     map[string]*sharedValue{},
		callouts:   map[uint32]*HttpCallout{},
	}
	if h.properties == nil {
		h.properties = map[string][]byte{}
	}
	guest.Reset(h, h.opt.vm)
	h.state = guest.Current()
	h.state.OnContextCreate(PluginContextID, 0)
	var once sync.Once
	return h, func() {
		once.Do(func() {
			guest.Reset(nil, nil)
			running.Unlock()
		})
	}
}

// --- driving the plugin ------------------------------------------------------

// StartVM calls proxy_on_vm_start and returns the plugin's answer.
func (h *HostEmulator) StartVM() bool {
	return h.state.OnVMStart(PluginContextID, len(h.opt.vmConf))
}

// StartPlugin calls proxy_on_configure and returns the plugin's answer
// (false: configuration rejected).
func (h *HostEmulator) StartPlugin() bool {
	return h.state.OnConfigure(PluginContextID, len(h.opt.pluginConf))
}

// Tick calls proxy_on_tick.
func (h *HostEmulator) Tick() { h.state.OnTick(PluginContextID) }

// TickPeriod returns the period set with SetTickPeriodMilliSeconds.
func (h *HostEmulator) TickPeriod() uint32 { return h.tickPeriod }

// FinishPlugin calls proxy_on_done for the plugin context and returns its
// answer.
func (h *HostEmulator) FinishPlugin() bool { return h.state.OnDone(PluginContextID) }

// InitializeHttpContext creates an HTTP stream context and returns its id.
func (h *HostEmulator) InitializeHttpContext() uint32 {
	id := h.nextID
	h.nextID++
	h.streams[id] = &stream{}
	h.state.OnContextCreate(id, PluginContextID)
	return id
}

func (h *HostEmulator) stream(id uint32) *stream {
	s, ok := h.streams[id]
	if !ok {
		panic(fmt.Sprintf("proxytest: unknown http context %d", id))
	}
	return s
}

func lowerKeys(pairs [][2]string) [][2]string {
	out := make([][2]string, len(pairs))
	for i, p := range pairs {
		out[i] = [2]string{strings.ToLower(p[0]), p[1]}
	}
	return out
}

func (h *HostEmulator) record(s *stream, a types.Action) types.Action {
	s.lastAction = a
	return a
}

// CallOnRequestHeaders sets the request headers (names lower-cased) and
// calls proxy_on_request_headers.
func (h *HostEmulator) CallOnRequestHeaders(id uint32, headers [][2]string, endOfStream bool) types.Action {
	s := h.stream(id)
	s.reqHeaders = lowerKeys(headers)
	return h.record(s, h.state.OnRequestHeaders(id, len(s.reqHeaders), endOfStream))
}

// CallOnRequestBody delivers a request body chunk. While the plugin
// returns ActionPause the host keeps buffering: the next call sees the
// whole buffered body. ActionContinue forwards the buffer.
func (h *HostEmulator) CallOnRequestBody(id uint32, chunk []byte, endOfStream bool) types.Action {
	s := h.stream(id)
	s.reqHeld = append(s.reqHeld, chunk...)
	a := h.state.OnRequestBody(id, len(s.reqHeld), endOfStream)
	if a == types.ActionContinue {
		s.reqSent = append(s.reqSent, s.reqHeld...)
		s.reqHeld = nil
	}
	return h.record(s, a)
}

// CallOnRequestTrailers sets the request trailers and calls
// proxy_on_request_trailers.
func (h *HostEmulator) CallOnRequestTrailers(id uint32, trailers [][2]string) types.Action {
	s := h.stream(id)
	s.reqTrailers = lowerKeys(trailers)
	return h.record(s, h.state.OnRequestTrailers(id, len(s.reqTrailers)))
}

// CallOnResponseHeaders sets the response headers (names lower-cased) and
// calls proxy_on_response_headers.
func (h *HostEmulator) CallOnResponseHeaders(id uint32, headers [][2]string, endOfStream bool) types.Action {
	s := h.stream(id)
	s.respHeaders = lowerKeys(headers)
	return h.record(s, h.state.OnResponseHeaders(id, len(s.respHeaders), endOfStream))
}

// CallOnResponseBody delivers a response body chunk, buffering like
// CallOnRequestBody.
func (h *HostEmulator) CallOnResponseBody(id uint32, chunk []byte, endOfStream bool) types.Action {
	s := h.stream(id)
	s.respHeld = append(s.respHeld, chunk...)
	a := h.state.OnResponseBody(id, len(s.respHeld), endOfStream)
	if a == types.ActionContinue {
		s.respSent = append(s.respSent, s.respHeld...)
		s.respHeld = nil
	}
	return h.record(s, a)
}

// CallOnResponseTrailers sets the response trailers and calls
// proxy_on_response_trailers.
func (h *HostEmulator) CallOnResponseTrailers(id uint32, trailers [][2]string) types.Action {
	s := h.stream(id)
	s.respTrailers = lowerKeys(trailers)
	return h.record(s, h.state.OnResponseTrailers(id, len(s.respTrailers)))
}

// CompleteHttpContext ends the stream as a host does: proxy_on_done,
// proxy_on_log, proxy_on_delete. The stream stays inspectable.
func (h *HostEmulator) CompleteHttpContext(id uint32) {
	s := h.stream(id)
	h.state.OnDone(id)
	h.state.OnLog(id)
	h.state.OnDelete(id)
	s.done = true
}

// CallOnQueueReady calls proxy_on_queue_ready for queueID.
func (h *HostEmulator) CallOnQueueReady(queueID uint32) {
	h.state.OnQueueReady(PluginContextID, queueID)
}

// CallOnForeignFunction calls proxy_on_foreign_function with args readable
// through GetForeignFunctionArguments.
func (h *HostEmulator) CallOnForeignFunction(functionID uint32, args []byte) {
	h.foreignArgs = args
	defer func() { h.foreignArgs = nil }()
	h.state.OnForeignFunction(PluginContextID, functionID, len(args))
}

// CallOnHttpCallResponse answers a dispatched HTTP call and runs its
// callback; headers nil simulates a failed call. The callout is then no
// longer pending.
func (h *HostEmulator) CallOnHttpCallResponse(calloutID uint32, headers [][2]string, body []byte, trailers [][2]string) {
	if _, ok := h.callouts[calloutID]; !ok {
		panic(fmt.Sprintf("proxytest: unknown callout %d", calloutID))
	}
	delete(h.callouts, calloutID)
	h.callResponse = &callResponse{headers: lowerKeys(headers), body: body, trailers: lowerKeys(trailers)}
	for _, p := range h.callResponse.headers {
		if p[0] == ":status" {
			if code, err := strconv.ParseUint(p[1], 10, 32); err == nil {
				h.callResponse.status = uint32(code)
			}
		}
	}
	defer func() { h.callResponse = nil }()
	h.state.OnHttpCallResponse(PluginContextID, calloutID, len(headers), len(body), len(trailers))
}

// --- inspecting ---------------------------------------------------------------

// Stream returns a snapshot of HTTP stream id.
func (h *HostEmulator) Stream(id uint32) Stream {
	s := h.stream(id)
	st := Stream{
		RequestHeaders:   slices.Clone(s.reqHeaders),
		RequestTrailers:  slices.Clone(s.reqTrailers),
		ResponseHeaders:  slices.Clone(s.respHeaders),
		ResponseTrailers: slices.Clone(s.respTrailers),
		RequestBody:      append(slices.Clone(s.reqSent), s.reqHeld...),
		ResponseBody:     append(slices.Clone(s.respSent), s.respHeld...),
		LastAction:       s.lastAction,
		RequestResumed:   s.reqResumed,
		ResponseResumed:  s.respResumed,
		RequestClosed:    s.reqClosed,
		ResponseClosed:   s.respClosed,
		Done:             s.done,
	}
	if s.local != nil {
		lr := *s.local
		st.LocalResponse = &lr
	}
	return st
}

// Logs returns the messages logged at level, in order.
func (h *HostEmulator) Logs(level types.LogLevel) []string {
	var out []string
	for _, e := range h.logs {
		if e.Level == level {
			out = append(out, e.Message)
		}
	}
	return out
}

// AllLogs returns every recorded log entry, in order.
func (h *HostEmulator) AllLogs() []LogEntry { return slices.Clone(h.logs) }

// Property returns a host property (preset or set by the plugin).
func (h *HostEmulator) Property(path []string) ([]byte, bool) {
	v, ok := h.properties[propertyKey(path)]
	return v, ok
}

// SharedData returns a shared-data entry and its cas.
func (h *HostEmulator) SharedData(key string) ([]byte, uint32, bool) {
	v, ok := h.shared[key]
	if !ok {
		return nil, 0, false
	}
	return v.value, v.cas, true
}

// QueueItems returns the items waiting in queue queueID.
func (h *HostEmulator) QueueItems(queueID uint32) [][]byte {
	if q := h.queue(queueID); q != nil {
		return slices.Clone(q.items)
	}
	return nil
}

// Metric returns the value of the metric name.
func (h *HostEmulator) Metric(name string) (uint64, bool) {
	for _, m := range h.metrics {
		if m.name == name {
			return m.value, true
		}
	}
	return 0, false
}

// HttpCallouts returns the dispatched HTTP calls not answered yet, by id.
func (h *HostEmulator) HttpCallouts() []HttpCallout {
	out := make([]HttpCallout, 0, len(h.callouts))
	for _, id := range slices.Sorted(maps.Keys(h.callouts)) {
		out = append(out, *h.callouts[id])
	}
	return out
}

// LiveContexts reports how many plugin and HTTP contexts the SDK still
// tracks; after CompleteHttpContext a stream must not be counted.
func (h *HostEmulator) LiveContexts() (plugins, https int) {
	p, hs, _ := h.state.Contexts()
	return p, hs
}

// SkippedCallbacks names the HTTP callbacks Heimdall would stop calling
// for a stream created now (the heimdall_callbacks_v1 extension): those
// the SDK has seen to be DefaultHttpContext's no-ops for every HTTP
// context type created so far, and proxy_on_done, which the SDK answers
// itself. The emulator itself calls every callback.
func (h *HostEmulator) SkippedCallbacks() []string {
	w := h.state.SkipWord()
	var out []string
	for i, name := range skipNames {
		if w&(1<<i) != 0 {
			out = append(out, name)
		}
	}
	return out
}

// skipNames are the callbacks of the skip word's bits, in bit order.
var skipNames = [...]string{
	"proxy_on_request_headers", "proxy_on_request_body", "proxy_on_request_trailers",
	"proxy_on_response_headers", "proxy_on_response_body", "proxy_on_response_trailers",
	"proxy_on_log", "proxy_on_done",
}

// HttpContext returns the plugin's HttpContext for id (nil once deleted),
// for tests that inspect plugin state directly.
func (h *HostEmulator) HttpContext(id uint32) types.HttpContext { return h.state.HttpContext(id) }

// --- abi.Host ---------------------------------------------------------------

var _ abi.Host = (*HostEmulator)(nil)

func (h *HostEmulator) active() *stream { return h.streams[h.state.ActiveContextID()] }

func (h *HostEmulator) Log(level types.LogLevel, msg string) types.Status {
	if level > types.LogLevelCritical {
		return types.StatusBadArgument
	}
	if level >= h.opt.logLevel {
		h.logs = append(h.logs, LogEntry{Level: level, Message: strings.Clone(msg)})
	}
	return types.StatusOK
}

func (h *HostEmulator) GetLogLevel() (types.LogLevel, types.Status) {
	return h.opt.logLevel, types.StatusOK
}

func (h *HostEmulator) GetCurrentTimeNanoseconds() (uint64, types.Status) {
	return uint64(h.opt.clock().UnixNano()), types.StatusOK
}

func (h *HostEmulator) SetTickPeriodMilliseconds(period uint32) types.Status {
	h.tickPeriod = period
	return types.StatusOK
}

func (h *HostEmulator) SetEffectiveContext(id uint32) types.Status {
	if id == PluginContextID {
		return types.StatusOK
	}
	if s, ok := h.streams[id]; ok && !s.done {
		return types.StatusOK
	}
	return types.StatusBadArgument
}

func (h *HostEmulator) Done() types.Status { return types.StatusNotFound }

func (h *HostEmulator) buffer(bt types.BufferType) (*[]byte, types.Status) {
	switch bt {
	case types.BufferTypeHttpRequestBody, types.BufferTypeHttpResponseBody:
		s := h.active()
		if s == nil {
			return nil, types.StatusNotFound
		}
		if bt == types.BufferTypeHttpRequestBody {
			return &s.reqHeld, types.StatusOK
		}
		return &s.respHeld, types.StatusOK
	case types.BufferTypeHttpCallResponseBody:
		if h.callResponse == nil {
			return nil, types.StatusNotFound
		}
		return &h.callResponse.body, types.StatusOK
	case types.BufferTypeVMConfiguration:
		return &h.opt.vmConf, types.StatusOK
	case types.BufferTypePluginConfiguration:
		return &h.opt.pluginConf, types.StatusOK
	case types.BufferTypeForeignFunctionArguments:
		if h.foreignArgs == nil {
			return nil, types.StatusNotFound
		}
		return &h.foreignArgs, types.StatusOK
	case types.BufferTypeRedisCallResponse:
		if h.redis.reply == nil {
			return nil, types.StatusNotFound
		}
		return h.redis.reply, types.StatusOK
	case types.BufferTypeDownstreamData, types.BufferTypeUpstreamData, types.BufferTypeGrpcReceiveBuffer:
		return nil, types.StatusNotFound
	}
	return nil, types.StatusBadArgument
}

func (h *HostEmulator) GetBufferBytes(bt types.BufferType, start, maxSize uint32) ([]byte, types.Status) {
	if uint64(start)+uint64(maxSize) > 1<<32-1 {
		return nil, types.StatusBadArgument
	}
	b, st := h.buffer(bt)
	if st != types.StatusOK {
		return nil, st
	}
	if int(start) > len(*b) {
		return nil, types.StatusBadArgument
	}
	end := min(uint64(start)+uint64(maxSize), uint64(len(*b)))
	return h.result((*b)[start:end]), types.StatusOK
}

func (h *HostEmulator) GetBufferStatus(bt types.BufferType) (uint32, uint32, types.Status) {
	b, st := h.buffer(bt)
	if st != types.StatusOK {
		return 0, 0, st
	}
	return uint32(len(*b)), 0, types.StatusOK
}

// SetBufferBytes edits a buffer the way Envoy does: start 0 with a
// non-zero size replaces the whole buffer, start 0 with size 0 prepends,
// start at or past the end appends; anything else is a bad argument.
func (h *HostEmulator) SetBufferBytes(bt types.BufferType, start, size uint32, value []byte) types.Status {
	switch bt {
	case types.BufferTypeHttpRequestBody, types.BufferTypeHttpResponseBody:
	default:
		if _, st := h.buffer(bt); st != types.StatusOK {
			return st
		}
		return types.StatusBadArgument // read-only buffers
	}
	b, st := h.buffer(bt)
	if st != types.StatusOK {
		return st
	}
	switch {
	case start == 0 && size != 0:
		*b = slices.Clone(value)
	case start == 0:
		*b = append(slices.Clone(value), *b...)
	case int(start) >= len(*b):
		*b = append(*b, value...)
	default:
		return types.StatusBadArgument
	}
	return types.StatusOK
}

func (h *HostEmulator) headerMap(mt types.MapType) (*[][2]string, types.Status) {
	switch mt {
	case types.MapTypeHttpCallResponseHeaders, types.MapTypeHttpCallResponseTrailers:
		if h.callResponse == nil {
			return nil, types.StatusNotFound
		}
		if mt == types.MapTypeHttpCallResponseHeaders {
			return &h.callResponse.headers, types.StatusOK
		}
		return &h.callResponse.trailers, types.StatusOK
	case types.MapTypeGrpcReceiveInitialMeta, types.MapTypeGrpcReceiveTrailingMeta:
		return nil, types.StatusNotFound
	}
	s := h.active()
	if s == nil {
		return nil, types.StatusNotFound
	}
	switch mt {
	case types.MapTypeHttpRequestHeaders:
		return &s.reqHeaders, types.StatusOK
	case types.MapTypeHttpRequestTrailers:
		return &s.reqTrailers, types.StatusOK
	case types.MapTypeHttpResponseHeaders:
		return &s.respHeaders, types.StatusOK
	case types.MapTypeHttpResponseTrailers:
		return &s.respTrailers, types.StatusOK
	}
	return nil, types.StatusBadArgument
}

func (h *HostEmulator) GetHeaderMapSize(mt types.MapType) (uint32, types.Status) {
	m, st := h.headerMap(mt)
	if st != types.StatusOK {
		return 0, st
	}
	return uint32(len(abi.EncodeMap(*m))), types.StatusOK
}

func (h *HostEmulator) GetHeaderMapPairs(mt types.MapType) ([]byte, types.Status) {
	m, st := h.headerMap(mt)
	if st != types.StatusOK {
		return nil, st
	}
	h.scratch = abi.AppendMap(h.buf(), *m)
	return h.scratch, types.StatusOK
}

func (h *HostEmulator) SetHeaderMapPairs(mt types.MapType, pairs []byte) types.Status {
	m, st := h.headerMap(mt)
	if st != types.StatusOK {
		return st
	}
	decoded, err := abi.DecodeMap(pairs)
	if err != nil {
		return types.StatusBadArgument
	}
	*m = lowerKeys(decoded)
	return types.StatusOK
}

func (h *HostEmulator) GetHeaderMapValue(mt types.MapType, key string) ([]byte, types.Status) {
	m, st := h.headerMap(mt)
	if st != types.StatusOK {
		return nil, st
	}
	key = strings.ToLower(key)
	for _, p := range *m {
		if p[0] == key {
			h.scratch = append(h.buf(), p[1]...)
			return h.scratch, types.StatusOK
		}
	}
	return nil, types.StatusNotFound
}

func (h *HostEmulator) AddHeaderMapValue(mt types.MapType, key, value string) types.Status {
	m, st := h.headerMap(mt)
	if st != types.StatusOK {
		return st
	}
	*m = append(*m, [2]string{strings.ToLower(key), value})
	return types.StatusOK
}

func (h *HostEmulator) ReplaceHeaderMapValue(mt types.MapType, key, value string) types.Status {
	m, st := h.headerMap(mt)
	if st != types.StatusOK {
		return st
	}
	key = strings.ToLower(key)
	i := slices.IndexFunc(*m, func(p [2]string) bool { return p[0] == key })
	if i < 0 {
		*m = append(*m, [2]string{key, value})
		return types.StatusOK
	}
	(*m)[i][1] = value
	rest := slices.DeleteFunc((*m)[i+1:], func(p [2]string) bool { return p[0] == key })
	*m = (*m)[:i+1+len(rest)]
	return types.StatusOK
}

func (h *HostEmulator) RemoveHeaderMapValue(mt types.MapType, key string) types.Status {
	m, st := h.headerMap(mt)
	if st != types.StatusOK {
		return st
	}
	key = strings.ToLower(key)
	*m = slices.DeleteFunc(*m, func(p [2]string) bool { return p[0] == key })
	return types.StatusOK
}

func (h *HostEmulator) ContinueStream(st types.StreamType) types.Status {
	s := h.active()
	if s == nil {
		return types.StatusNotFound
	}
	switch st {
	case types.StreamTypeHttpRequest:
		s.reqResumed++
		s.reqSent = append(s.reqSent, s.reqHeld...)
		s.reqHeld = nil
	case types.StreamTypeHttpResponse:
		s.respResumed++
		s.respSent = append(s.respSent, s.respHeld...)
		s.respHeld = nil
	default:
		return types.StatusBadArgument
	}
	return types.StatusOK
}

func (h *HostEmulator) CloseStream(st types.StreamType) types.Status {
	s := h.active()
	if s == nil {
		return types.StatusNotFound
	}
	switch st {
	case types.StreamTypeHttpRequest:
		s.reqClosed++
	case types.StreamTypeHttpResponse:
		s.respClosed++
	default:
		return types.StatusBadArgument
	}
	return types.StatusOK
}

func (h *HostEmulator) GetStatus() (uint32, []byte, types.Status) {
	if h.callResponse == nil {
		return 0, nil, types.StatusNotFound
	}
	return h.callResponse.status, nil, types.StatusOK
}

func (h *HostEmulator) SendLocalResponse(statusCode uint32, details string, body, headers []byte, grpcStatus int32) types.Status {
	s := h.active()
	if s == nil {
		return types.StatusNotFound
	}
	decoded, err := abi.DecodeMap(headers)
	if err != nil {
		return types.StatusBadArgument
	}
	s.local = &LocalResponse{
		StatusCode: statusCode,
		Details:    details,
		Headers:    lowerKeys(decoded),
		Body:       slices.Clone(body),
		GRPCStatus: grpcStatus,
	}
	return types.StatusOK
}

func (h *HostEmulator) HttpCall(upstream string, headers, body, trailers []byte, timeoutMs uint32) (uint32, types.Status) {
	hs, err1 := abi.DecodeMap(headers)
	ts, err2 := abi.DecodeMap(trailers)
	if err := errors.Join(err1, err2); err != nil {
		return 0, types.StatusBadArgument
	}
	hs = lowerKeys(hs)
	for _, required := range []string{":method", ":path", ":authority"} {
		if !slices.ContainsFunc(hs, func(p [2]string) bool { return p[0] == required }) {
			return 0, types.StatusBadArgument
		}
	}
	h.nextCallout++
	h.callouts[h.nextCallout] = &HttpCallout{
		ID:        h.nextCallout,
		ContextID: h.state.ActiveContextID(),
		Upstream:  upstream,
		Headers:   hs,
		Body:      slices.Clone(body),
		Trailers:  lowerKeys(ts),
		TimeoutMs: timeoutMs,
	}
	return h.nextCallout, types.StatusOK
}

func (h *HostEmulator) GetProperty(path []byte) ([]byte, types.Status) {
	v, ok := h.properties[string(path)]
	if !ok {
		return nil, types.StatusNotFound
	}
	return h.result(v), types.StatusOK
}

func (h *HostEmulator) SetProperty(path, value []byte) types.Status {
	h.properties[string(path)] = slices.Clone(value)
	return types.StatusOK
}

func (h *HostEmulator) GetSharedData(key string) ([]byte, uint32, types.Status) {
	v, ok := h.shared[key]
	if !ok {
		return nil, 0, types.StatusNotFound
	}
	return h.result(v.value), v.cas, types.StatusOK
}

func (h *HostEmulator) SetSharedData(key string, value []byte, cas uint32) types.Status {
	v, ok := h.shared[key]
	if !ok {
		if cas != 0 {
			return types.StatusCasMismatch
		}
		h.shared[key] = &sharedValue{value: slices.Clone(value), cas: 1}
		return types.StatusOK
	}
	if cas != 0 && cas != v.cas {
		return types.StatusCasMismatch
	}
	v.value = slices.Clone(value)
	v.cas++
	return types.StatusOK
}

func (h *HostEmulator) queue(id uint32) *queue {
	if id == 0 || int(id) > len(h.queues) {
		return nil
	}
	return h.queues[id-1]
}

func (h *HostEmulator) RegisterSharedQueue(name string) (uint32, types.Status) {
	for i, q := range h.queues {
		if q.name == name {
			return uint32(i + 1), types.StatusOK
		}
	}
	h.queues = append(h.queues, &queue{name: name})
	return uint32(len(h.queues)), types.StatusOK
}

func (h *HostEmulator) ResolveSharedQueue(vmID, name string) (uint32, types.Status) {
	for i, q := range h.queues {
		if q.name == name {
			return uint32(i + 1), types.StatusOK
		}
	}
	return 0, types.StatusNotFound
}

func (h *HostEmulator) EnqueueSharedQueue(id uint32, value []byte) types.Status {
	q := h.queue(id)
	if q == nil {
		return types.StatusNotFound
	}
	q.items = append(q.items, slices.Clone(value))
	return types.StatusOK
}

func (h *HostEmulator) DequeueSharedQueue(id uint32) ([]byte, types.Status) {
	q := h.queue(id)
	if q == nil {
		return nil, types.StatusNotFound
	}
	if len(q.items) == 0 {
		return nil, types.StatusEmpty
	}
	v := q.items[0]
	q.items = q.items[1:]
	return h.result(v), types.StatusOK
}

func (h *HostEmulator) metric(id uint32) *metric {
	if id == 0 || int(id) > len(h.metrics) {
		return nil
	}
	return h.metrics[id-1]
}

func (h *HostEmulator) DefineMetric(mt types.MetricType, name string) (uint32, types.Status) {
	if mt > types.MetricTypeHistogram {
		return 0, types.StatusBadArgument
	}
	for i, m := range h.metrics {
		if m.name == name {
			return uint32(i + 1), types.StatusOK
		}
	}
	h.metrics = append(h.metrics, &metric{typ: mt, name: name})
	return uint32(len(h.metrics)), types.StatusOK
}

func (h *HostEmulator) IncrementMetric(id uint32, delta int64) types.Status {
	m := h.metric(id)
	if m == nil {
		return types.StatusNotFound
	}
	if m.typ == types.MetricTypeHistogram || (m.typ == types.MetricTypeCounter && delta < 0) {
		return types.StatusBadArgument
	}
	m.value = uint64(int64(m.value) + delta)
	return types.StatusOK
}

func (h *HostEmulator) RecordMetric(id uint32, value uint64) types.Status {
	m := h.metric(id)
	if m == nil {
		return types.StatusNotFound
	}
	m.value = value
	return types.StatusOK
}

func (h *HostEmulator) GetMetric(id uint32) (uint64, types.Status) {
	m := h.metric(id)
	if m == nil {
		return 0, types.StatusNotFound
	}
	if m.typ == types.MetricTypeHistogram {
		return 0, types.StatusBadArgument
	}
	return m.value, types.StatusOK
}

func (h *HostEmulator) CallForeignFunction(name string, args []byte) ([]byte, types.Status) {
	fn, ok := h.opt.foreign[name]
	if !ok {
		return nil, types.StatusNotFound
	}
	out, err := fn(args)
	if err != nil {
		var se *types.StatusError
		if errors.As(err, &se) {
			return nil, se.Status
		}
		return nil, types.StatusInternalFailure
	}
	return h.result(out), types.StatusOK
}
