package types

import "github.com/heimdallgw/heimdall/sdk/proxywasm/internal/defaults"

// VMContext is the plugin's entry point, registered once with
// proxywasm.SetVMContext (usually from main or init). A VM hosts any number of
// plugin contexts, one per plugin configuration the host attaches.
type VMContext interface {
	// OnVMStart is called once when the host starts the VM. The VM
	// configuration (vmConfigurationSize bytes) is readable with
	// proxywasm.GetVMConfiguration. Returning false fails the VM start.
	OnVMStart(vmConfigurationSize int) OnVMStartStatus

	// NewPluginContext creates the plugin (root) context contextID.
	NewPluginContext(contextID uint32) PluginContext
}

// PluginContext is one configured instance of the plugin (the proxy-wasm
// "root context"). It creates the per-stream contexts.
type PluginContext interface {
	// OnPluginStart is called when the host (re)configures the plugin. The
	// configuration (pluginConfigurationSize bytes) is readable with
	// proxywasm.GetPluginConfiguration. Returning false rejects it.
	OnPluginStart(pluginConfigurationSize int) OnPluginStartStatus

	// OnPluginDone is called when the host is done with the plugin. Return
	// false to keep it alive and call proxywasm.PluginDone later.
	OnPluginDone() bool

	// OnTick is called every period set by proxywasm.SetTickPeriodMilliSeconds.
	OnTick()

	// OnQueueReady is called when an item is enqueued on a shared queue this
	// plugin registered.
	OnQueueReady(queueID uint32)

	// NewHttpContext creates the context of one HTTP stream, or returns nil
	// if the plugin does not filter HTTP.
	NewHttpContext(contextID uint32) HttpContext

	// NewTcpContext creates the context of one TCP connection, or returns
	// nil if the plugin does not filter TCP.
	NewTcpContext(contextID uint32) TcpContext
}

// ForeignFunctionHandler is implemented by a PluginContext that handles
// proxy_on_foreign_function calls (host-registered callbacks into the
// plugin). Arguments are readable with proxywasm.GetForeignFunctionArguments.
type ForeignFunctionHandler interface {
	OnForeignFunction(functionID uint32, argumentsSize int)
}

// HttpContext is the context of one HTTP request/response pair. Header,
// body and trailer host calls made during a callback act on this stream.
type HttpContext interface {
	// OnHttpRequestHeaders is called with the request headers (pseudo
	// headers :method, :path, :authority, :scheme included).
	OnHttpRequestHeaders(numHeaders int, endOfStream bool) Action

	// OnHttpRequestBody is called per request body chunk; bodySize is the
	// size of what the host holds (it grows while the plugin pauses).
	OnHttpRequestBody(bodySize int, endOfStream bool) Action

	// OnHttpRequestTrailers is called with the request trailers, if any.
	OnHttpRequestTrailers(numTrailers int) Action

	// OnHttpResponseHeaders is called with the response headers (:status
	// included).
	OnHttpResponseHeaders(numHeaders int, endOfStream bool) Action

	// OnHttpResponseBody is called per response body chunk, like
	// OnHttpRequestBody.
	OnHttpResponseBody(bodySize int, endOfStream bool) Action

	// OnHttpResponseTrailers is called with the response trailers, if any.
	OnHttpResponseTrailers(numTrailers int) Action

	// OnHttpStreamDone is called once when the stream is finished (from
	// proxy_on_log, where headers are still readable).
	OnHttpStreamDone()
}

// TcpContext is the context of one TCP connection.
type TcpContext interface {
	OnNewConnection() Action
	OnDownstreamData(dataSize int, endOfStream bool) Action
	OnDownstreamClose(peerType PeerType)
	OnUpstreamData(dataSize int, endOfStream bool) Action
	OnUpstreamClose(peerType PeerType)
	OnStreamDone()
}

// DefaultVMContext implements VMContext: it accepts any VM configuration
// and creates DefaultPluginContext plugins. Embed it and override what you
// need.
type DefaultVMContext struct{}

func (DefaultVMContext) OnVMStart(int) OnVMStartStatus { return OnVMStartStatusOK }
func (DefaultVMContext) NewPluginContext(uint32) PluginContext {
	return &DefaultPluginContext{}
}

// DefaultPluginContext implements PluginContext with no-ops: it accepts any
// configuration and creates no stream contexts. Embed it and override what
// you need (typically OnPluginStart and NewHttpContext).
type DefaultPluginContext struct{}

func (DefaultPluginContext) OnPluginStart(int) OnPluginStartStatus { return OnPluginStartStatusOK }
func (DefaultPluginContext) OnPluginDone() bool                    { return true }
func (DefaultPluginContext) OnTick()                               {}
func (DefaultPluginContext) OnQueueReady(uint32)                   {}
func (DefaultPluginContext) NewHttpContext(uint32) HttpContext     { return nil }
func (DefaultPluginContext) NewTcpContext(uint32) TcpContext       { return nil }

// DefaultHttpContext implements HttpContext by continuing everything.
//
// Under Heimdall, a callback a context type leaves to DefaultHttpContext is
// noticed the first time it runs and the host stops calling it for streams
// of that type (it is a no-op); see the SDK's RATIONALE.md.
type DefaultHttpContext struct{}

func (DefaultHttpContext) OnHttpRequestHeaders(int, bool) Action {
	defaults.Mark(defaults.RequestHeaders)
	return ActionContinue
}

func (DefaultHttpContext) OnHttpRequestBody(int, bool) Action {
	defaults.Mark(defaults.RequestBody)
	return ActionContinue
}

func (DefaultHttpContext) OnHttpRequestTrailers(int) Action {
	defaults.Mark(defaults.RequestTrailers)
	return ActionContinue
}

func (DefaultHttpContext) OnHttpResponseHeaders(int, bool) Action {
	defaults.Mark(defaults.ResponseHeaders)
	return ActionContinue
}

func (DefaultHttpContext) OnHttpResponseBody(int, bool) Action {
	defaults.Mark(defaults.ResponseBody)
	return ActionContinue
}

func (DefaultHttpContext) OnHttpResponseTrailers(int) Action {
	defaults.Mark(defaults.ResponseTrailers)
	return ActionContinue
}

func (DefaultHttpContext) OnHttpStreamDone() { defaults.Mark(defaults.Log) }

// DefaultTcpContext implements TcpContext by continuing everything.
type DefaultTcpContext struct{}

func (DefaultTcpContext) OnNewConnection() Action           { return ActionContinue }
func (DefaultTcpContext) OnDownstreamData(int, bool) Action { return ActionContinue }
func (DefaultTcpContext) OnDownstreamClose(PeerType)        {}
func (DefaultTcpContext) OnUpstreamData(int, bool) Action   { return ActionContinue }
func (DefaultTcpContext) OnUpstreamClose(PeerType)          {}
func (DefaultTcpContext) OnStreamDone()                     {}

var (
	_ VMContext     = DefaultVMContext{}
	_ PluginContext = DefaultPluginContext{}
	_ HttpContext   = DefaultHttpContext{}
	_ TcpContext    = DefaultTcpContext{}
)
