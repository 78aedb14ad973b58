package proxywasm

import "github.com/heimdallgw/heimdall/sdk/proxywasm/types"

// Bodies. The body host calls act on what the host holds for the running
// body callback: the current chunk, or everything buffered so far while the
// plugin returns ActionPause.

// GetHttpRequestBody returns up to maxSize bytes of the request body from
// start. Valid in OnHttpRequestBody.
func GetHttpRequestBody(start, maxSize int) ([]byte, error) {
	return getBuffer(types.BufferTypeHttpRequestBody, start, maxSize)
}

// ReplaceHttpRequestBody replaces the body the host holds with body.
func ReplaceHttpRequestBody(body []byte) error {
	return setBuffer(types.BufferTypeHttpRequestBody, replaceStart, replaceSize, body)
}

// AppendHttpRequestBody appends data to the body the host holds.
func AppendHttpRequestBody(data []byte) error {
	return setBuffer(types.BufferTypeHttpRequestBody, appendStart, appendSize, data)
}

// PrependHttpRequestBody inserts data before the body the host holds.
func PrependHttpRequestBody(data []byte) error {
	return setBuffer(types.BufferTypeHttpRequestBody, prependStart, prependSize, data)
}

// GetHttpResponseBody returns up to maxSize bytes of the response body from
// start. Valid in OnHttpResponseBody.
func GetHttpResponseBody(start, maxSize int) ([]byte, error) {
	return getBuffer(types.BufferTypeHttpResponseBody, start, maxSize)
}

// ReplaceHttpResponseBody replaces the body the host holds with body.
func ReplaceHttpResponseBody(body []byte) error {
	return setBuffer(types.BufferTypeHttpResponseBody, replaceStart, replaceSize, body)
}

// AppendHttpResponseBody appends data to the body the host holds.
func AppendHttpResponseBody(data []byte) error {
	return setBuffer(types.BufferTypeHttpResponseBody, appendStart, appendSize, data)
}

// PrependHttpResponseBody inserts data before the body the host holds.
func PrependHttpResponseBody(data []byte) error {
	return setBuffer(types.BufferTypeHttpResponseBody, prependStart, prependSize, data)
}

// TCP data, valid in OnDownstreamData / OnUpstreamData.

func GetDownstreamData(start, maxSize int) ([]byte, error) {
	return getBuffer(types.BufferTypeDownstreamData, start, maxSize)
}
func ReplaceDownstreamData(data []byte) error {
	return setBuffer(types.BufferTypeDownstreamData, replaceStart, replaceSize, data)
}
func AppendDownstreamData(data []byte) error {
	return setBuffer(types.BufferTypeDownstreamData, appendStart, appendSize, data)
}
func PrependDownstreamData(data []byte) error {
	return setBuffer(types.BufferTypeDownstreamData, prependStart, prependSize, data)
}
func GetUpstreamData(start, maxSize int) ([]byte, error) {
	return getBuffer(types.BufferTypeUpstreamData, start, maxSize)
}
func ReplaceUpstreamData(data []byte) error {
	return setBuffer(types.BufferTypeUpstreamData, replaceStart, replaceSize, data)
}
func AppendUpstreamData(data []byte) error {
	return setBuffer(types.BufferTypeUpstreamData, appendStart, appendSize, data)
}
func PrependUpstreamData(data []byte) error {
	return setBuffer(types.BufferTypeUpstreamData, prependStart, prependSize, data)
}
