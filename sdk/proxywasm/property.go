package proxywasm

import "strings"

// Properties are host attributes addressed by a path of segments, e.g.
// []string{"request", "path"} or []string{"plugin_name"}. On the wire the
// segments are joined by NUL bytes.

func encodePropertyPath(path []string) []byte {
	return []byte(strings.Join(path, "\x00"))
}

// GetProperty returns the value of a host property;
// types.ErrorStatusNotFound if the host has none at path.
func GetProperty(path []string) ([]byte, error) {
	b, st := host().GetProperty(encodePropertyPath(path))
	return b, statusErr("proxy_get_property", st)
}

// SetProperty sets a host property, for example the APISIX switches
// wasm_process_req_body / wasm_process_resp_body.
func SetProperty(path []string, value []byte) error {
	return statusErr("proxy_set_property", host().SetProperty(encodePropertyPath(path), value))
}
