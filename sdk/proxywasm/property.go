package proxywasm

import "github.com/heimdallgw/heimdall/sdk/proxywasm/internal/abi"

// Properties are host attributes addressed by a path of segments, e.g.
// []string{"request", "path"} or []string{"plugin_name"}. On the wire the
// segments are joined by NUL bytes.

func appendPropertyPath(b []byte, path []string) []byte {
	for i, seg := range path {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, seg...)
	}
	return b
}

// GetProperty returns the value of a host property;
// types.ErrorStatusNotFound if the host has none at path.
func GetProperty(path []string) ([]byte, error) {
	in := getInput()
	in.b = appendPropertyPath(in.b, path)
	b, st := host().GetProperty(in.b)
	in.put()
	return abi.Own(b), statusErr("proxy_get_property", st)
}

// SetProperty sets a host property, for example the APISIX switches
// wasm_process_req_body / wasm_process_resp_body.
func SetProperty(path []string, value []byte) error {
	in := getInput()
	in.b = appendPropertyPath(in.b, path)
	st := host().SetProperty(in.b, value)
	in.put()
	return statusErr("proxy_set_property", st)
}
