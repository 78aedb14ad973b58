package proxywasm

import (
	"github.com/heimdallgw/heimdall/sdk/proxywasm/internal/abi"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

// Header maps are ordered lists of [name, value] pairs; a name may repeat.
// Hosts lower-case names and include the pseudo headers (:method, :path,
// :authority, :scheme, :status).

// getMap makes two allocations: one string holding every key and value
// (the pairs are substrings of it) and the pairs slice.
func getMap(mt types.MapType) ([][2]string, error) {
	b, st := host().GetHeaderMapPairs(mt)
	if st != types.StatusOK {
		return nil, statusErr("proxy_get_header_map_pairs", st)
	}
	pairs, err := abi.DecodeMapString(abi.String(b))
	if err != nil {
		return nil, &decodeError{err: err}
	}
	return pairs, nil
}

// decodeError is a serialization failure found on the guest side; it matches
// types.ErrorStatusSerializationFailure and unwraps to the detail.
type decodeError struct{ err error }

func (e *decodeError) Error() string { return "proxy_get_header_map_pairs: " + e.err.Error() }
func (e *decodeError) Unwrap() []error {
	return []error{e.err, types.ErrorStatusSerializationFailure}
}

func setMap(mt types.MapType, pairs [][2]string) error {
	in := getInput()
	in.b = abi.AppendMap(in.b, pairs)
	st := host().SetHeaderMapPairs(mt, in.b)
	in.put()
	return statusErr("proxy_set_header_map_pairs", st)
}

func getMapValue(mt types.MapType, key string) (string, error) {
	b, st := host().GetHeaderMapValue(mt, key)
	if st != types.StatusOK {
		return "", statusErr("proxy_get_header_map_value", st)
	}
	return abi.String(b), nil
}

func addMapValue(mt types.MapType, key, value string) error {
	return statusErr("proxy_add_header_map_value", host().AddHeaderMapValue(mt, key, value))
}

func replaceMapValue(mt types.MapType, key, value string) error {
	return statusErr("proxy_replace_header_map_value", host().ReplaceHeaderMapValue(mt, key, value))
}

func removeMapValue(mt types.MapType, key string) error {
	return statusErr("proxy_remove_header_map_value", host().RemoveHeaderMapValue(mt, key))
}

// Request headers.

// GetHttpRequestHeaders returns all request headers.
func GetHttpRequestHeaders() ([][2]string, error) { return getMap(types.MapTypeHttpRequestHeaders) }

// ReplaceHttpRequestHeaders replaces the whole request header map.
func ReplaceHttpRequestHeaders(headers [][2]string) error {
	return setMap(types.MapTypeHttpRequestHeaders, headers)
}

// GetHttpRequestHeader returns the value of one request header;
// types.ErrorStatusNotFound if it is absent.
func GetHttpRequestHeader(key string) (string, error) {
	return getMapValue(types.MapTypeHttpRequestHeaders, key)
}

// AddHttpRequestHeader adds a value, keeping existing ones.
func AddHttpRequestHeader(key, value string) error {
	return addMapValue(types.MapTypeHttpRequestHeaders, key, value)
}

// ReplaceHttpRequestHeader sets a header to value, adding it if absent.
func ReplaceHttpRequestHeader(key, value string) error {
	return replaceMapValue(types.MapTypeHttpRequestHeaders, key, value)
}

// RemoveHttpRequestHeader removes every value of a header (absent is fine).
func RemoveHttpRequestHeader(key string) error {
	return removeMapValue(types.MapTypeHttpRequestHeaders, key)
}

// Request trailers.

func GetHttpRequestTrailers() ([][2]string, error) { return getMap(types.MapTypeHttpRequestTrailers) }
func ReplaceHttpRequestTrailers(trailers [][2]string) error {
	return setMap(types.MapTypeHttpRequestTrailers, trailers)
}
func GetHttpRequestTrailer(key string) (string, error) {
	return getMapValue(types.MapTypeHttpRequestTrailers, key)
}
func AddHttpRequestTrailer(key, value string) error {
	return addMapValue(types.MapTypeHttpRequestTrailers, key, value)
}
func ReplaceHttpRequestTrailer(key, value string) error {
	return replaceMapValue(types.MapTypeHttpRequestTrailers, key, value)
}
func RemoveHttpRequestTrailer(key string) error {
	return removeMapValue(types.MapTypeHttpRequestTrailers, key)
}

// Response headers.

func GetHttpResponseHeaders() ([][2]string, error) { return getMap(types.MapTypeHttpResponseHeaders) }
func ReplaceHttpResponseHeaders(headers [][2]string) error {
	return setMap(types.MapTypeHttpResponseHeaders, headers)
}
func GetHttpResponseHeader(key string) (string, error) {
	return getMapValue(types.MapTypeHttpResponseHeaders, key)
}
func AddHttpResponseHeader(key, value string) error {
	return addMapValue(types.MapTypeHttpResponseHeaders, key, value)
}
func ReplaceHttpResponseHeader(key, value string) error {
	return replaceMapValue(types.MapTypeHttpResponseHeaders, key, value)
}
func RemoveHttpResponseHeader(key string) error {
	return removeMapValue(types.MapTypeHttpResponseHeaders, key)
}

// Response trailers.

func GetHttpResponseTrailers() ([][2]string, error) {
	return getMap(types.MapTypeHttpResponseTrailers)
}
func ReplaceHttpResponseTrailers(trailers [][2]string) error {
	return setMap(types.MapTypeHttpResponseTrailers, trailers)
}
func GetHttpResponseTrailer(key string) (string, error) {
	return getMapValue(types.MapTypeHttpResponseTrailers, key)
}
func AddHttpResponseTrailer(key, value string) error {
	return addMapValue(types.MapTypeHttpResponseTrailers, key, value)
}
func ReplaceHttpResponseTrailer(key, value string) error {
	return replaceMapValue(types.MapTypeHttpResponseTrailers, key, value)
}
func RemoveHttpResponseTrailer(key string) error {
	return removeMapValue(types.MapTypeHttpResponseTrailers, key)
}
