package proxywasm

import (
	"github.com/heimdallgw/heimdall/sdk/proxywasm/internal/abi"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/internal/guest"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

// DispatchHttpCall sends an HTTP request to upstream (a host-defined
// upstream name; headers must include :method, :path and :authority) and
// returns its callout id. callback runs when the answer arrives or the call
// times out (numHeaders 0 means it failed), with the dispatching context as
// the effective context; read the answer there with
// GetHttpCallResponseHeaders/Body/Trailers.
func DispatchHttpCall(
	upstream string,
	headers [][2]string,
	body []byte,
	trailers [][2]string,
	timeoutMilliseconds uint32,
	callback func(numHeaders, bodySize, numTrailers int),
) (calloutID uint32, err error) {
	id, st := host().HttpCall(upstream, abi.EncodeMap(headers), body, abi.EncodeMap(trailers), timeoutMilliseconds)
	if st != types.StatusOK {
		return 0, statusErr("proxy_http_call", st)
	}
	guest.Current().RegisterHttpCallback(id, callback)
	return id, nil
}

// GetHttpCallResponseHeaders returns the headers of the answer being
// delivered to a DispatchHttpCall callback.
func GetHttpCallResponseHeaders() ([][2]string, error) {
	return getMap(types.MapTypeHttpCallResponseHeaders)
}

// GetHttpCallResponseBody returns up to maxSize bytes from start of the
// answer's body.
func GetHttpCallResponseBody(start, maxSize int) ([]byte, error) {
	return getBuffer(types.BufferTypeHttpCallResponseBody, start, maxSize)
}

// GetHttpCallResponseTrailers returns the trailers of the answer.
func GetHttpCallResponseTrailers() ([][2]string, error) {
	return getMap(types.MapTypeHttpCallResponseTrailers)
}
