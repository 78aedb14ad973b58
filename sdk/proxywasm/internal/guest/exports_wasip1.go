//go:build wasip1

package guest

import (
	"unsafe"

	"github.com/heimdallgw/heimdall/sdk/proxywasm/internal/abi"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

// The proxy-wasm 0.2.1 callbacks exported by every plugin. Each one brackets
// the dispatch with abi.Enter/abi.Leave so the buffers the host allocated
// during the callback are released when it returns.

func init() { state.host = abi.WasmHost{} }

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

//go:wasmexport proxy_abi_version_0_2_1
func proxyABIVersion021() {}

// heimdallCallbacksV1 is Heimdall's callback-skip extension: it returns
// the address of the skip word (skip.go), which the host reads after every
// proxy_on_context_create. Other hosts never call it.
//
//go:wasmexport heimdall_callbacks_v1
func heimdallCallbacksV1() unsafe.Pointer { return unsafe.Pointer(&skipWord) }

//go:wasmexport proxy_on_context_create
func proxyOnContextCreate(id, parentID uint32) {
	defer abi.Leave(abi.Enter())
	state.OnContextCreate(id, parentID)
}

//go:wasmexport proxy_on_vm_start
func proxyOnVMStart(rootID, vmConfSize uint32) uint32 {
	defer abi.Leave(abi.Enter())
	return b2u(state.OnVMStart(rootID, int(vmConfSize)))
}

//go:wasmexport proxy_on_configure
func proxyOnConfigure(rootID, confSize uint32) uint32 {
	defer abi.Leave(abi.Enter())
	return b2u(state.OnConfigure(rootID, int(confSize)))
}

//go:wasmexport proxy_on_tick
func proxyOnTick(rootID uint32) {
	defer abi.Leave(abi.Enter())
	state.OnTick(rootID)
}

//go:wasmexport proxy_on_queue_ready
func proxyOnQueueReady(rootID, queueID uint32) {
	defer abi.Leave(abi.Enter())
	state.OnQueueReady(rootID, queueID)
}

//go:wasmexport proxy_on_foreign_function
func proxyOnForeignFunction(rootID, functionID, argsSize uint32) {
	defer abi.Leave(abi.Enter())
	state.OnForeignFunction(rootID, functionID, int(argsSize))
}

//go:wasmexport proxy_on_http_call_response
func proxyOnHttpCallResponse(rootID, calloutID, numHeaders, bodySize, numTrailers uint32) {
	defer abi.Leave(abi.Enter())
	state.OnHttpCallResponse(rootID, calloutID, int(numHeaders), int(bodySize), int(numTrailers))
}

//go:wasmexport proxy_on_request_headers
func proxyOnRequestHeaders(id, numHeaders, eos uint32) uint32 {
	defer abi.Leave(abi.Enter())
	return uint32(state.OnRequestHeaders(id, int(numHeaders), eos != 0))
}

//go:wasmexport proxy_on_request_body
func proxyOnRequestBody(id, bodySize, eos uint32) uint32 {
	defer abi.Leave(abi.Enter())
	return uint32(state.OnRequestBody(id, int(bodySize), eos != 0))
}

//go:wasmexport proxy_on_request_trailers
func proxyOnRequestTrailers(id, numTrailers uint32) uint32 {
	defer abi.Leave(abi.Enter())
	return uint32(state.OnRequestTrailers(id, int(numTrailers)))
}

//go:wasmexport proxy_on_response_headers
func proxyOnResponseHeaders(id, numHeaders, eos uint32) uint32 {
	defer abi.Leave(abi.Enter())
	return uint32(state.OnResponseHeaders(id, int(numHeaders), eos != 0))
}

//go:wasmexport proxy_on_response_body
func proxyOnResponseBody(id, bodySize, eos uint32) uint32 {
	defer abi.Leave(abi.Enter())
	return uint32(state.OnResponseBody(id, int(bodySize), eos != 0))
}

//go:wasmexport proxy_on_response_trailers
func proxyOnResponseTrailers(id, numTrailers uint32) uint32 {
	defer abi.Leave(abi.Enter())
	return uint32(state.OnResponseTrailers(id, int(numTrailers)))
}

//go:wasmexport proxy_on_new_connection
func proxyOnNewConnection(id uint32) uint32 {
	defer abi.Leave(abi.Enter())
	return uint32(state.OnNewConnection(id))
}

//go:wasmexport proxy_on_downstream_data
func proxyOnDownstreamData(id, size, eos uint32) uint32 {
	defer abi.Leave(abi.Enter())
	return uint32(state.OnDownstreamData(id, int(size), eos != 0))
}

//go:wasmexport proxy_on_downstream_connection_close
func proxyOnDownstreamConnectionClose(id, peer uint32) {
	defer abi.Leave(abi.Enter())
	state.OnDownstreamClose(id, types.PeerType(peer))
}

//go:wasmexport proxy_on_upstream_data
func proxyOnUpstreamData(id, size, eos uint32) uint32 {
	defer abi.Leave(abi.Enter())
	return uint32(state.OnUpstreamData(id, int(size), eos != 0))
}

//go:wasmexport proxy_on_upstream_connection_close
func proxyOnUpstreamConnectionClose(id, peer uint32) {
	defer abi.Leave(abi.Enter())
	state.OnUpstreamClose(id, types.PeerType(peer))
}

//go:wasmexport proxy_on_done
func proxyOnDone(id uint32) uint32 {
	defer abi.Leave(abi.Enter())
	return b2u(state.OnDone(id))
}

//go:wasmexport proxy_on_log
func proxyOnLog(id uint32) {
	defer abi.Leave(abi.Enter())
	state.OnLog(id)
}

//go:wasmexport proxy_on_delete
func proxyOnDelete(id uint32) {
	defer abi.Leave(abi.Enter())
	state.OnDelete(id)
}
