//go:build wasip1

package guest

import "github.com/heimdallgw/heimdall/sdk/proxywasm/internal/abi"

//go:wasmexport proxy_on_redis_call_response
func proxyOnRedisCallResponse(rootID, calloutID, status, responseSize uint32) {
	defer abi.Leave(abi.Enter())
	state.OnRedisCallResponse(rootID, calloutID, int32(status), int(responseSize))
}
