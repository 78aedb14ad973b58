package host

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"io"

	"github.com/heimdallgw/heimdall/internal/wasm/abi"
)

// maxUncompressed bounds what the "uncompress" foreign function may
// produce, so a small zlib bomb from a request body cannot make the host
// allocate without limit. Envoy has no bound; 64 MiB is far above any body
// Heimdall buffers.
const maxUncompressed = 64 << 20

// foreignFunc is one entry of the foreign function registry: it gets the
// raw argument bytes and returns the result bytes, copied to the guest
// when the status is OK.
type foreignFunc func(v *vm, args []byte) ([]byte, abi.Status)

// foreignFuncs is the registry of proxy_call_foreign_function names.
// Names not listed answer NotFound, as Envoy does for an unregistered name.
var foreignFuncs = map[string]foreignFunc{
	"compress":   ffCompress,
	"uncompress": ffUncompress,
	// set_envoy_filter_state writes Heimdall's request properties.
	"set_envoy_filter_state": ffSetFilterState,
}

// ForeignFunctionNames lists the registered foreign functions, for the
// README and tests.
func ForeignFunctionNames() []string {
	out := make([]string, 0, len(foreignFuncs))
	for n := range foreignFuncs {
		out = append(out, n)
	}
	return out
}

// proxy_call_foreign_function(name, name_len, args, args_len, *results,
// *results_len): looks name up in the registry; unknown → NotFound.
func hCallForeignFunction(v *vm, s []uint64) abi.Status {
	name, ok1 := v.read(s[0], s[1])
	args, ok2 := v.read(s[2], s[3])
	if !ok1 || !ok2 {
		return abi.StatusInvalidMemoryAccess
	}
	fn, ok := foreignFuncs[string(name)]
	if !ok {
		return abi.StatusNotFound
	}
	out, st := fn(v, args)
	if st != abi.StatusOK {
		return st
	}
	return v.copyOut(out, s[4], s[5])
}

// ffCompress is Envoy's "compress": the arguments zlib-compressed (RFC 1950
// framing, default level, as zlib's compress()).
func ffCompress(_ *vm, args []byte) ([]byte, abi.Status) {
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	if _, err := w.Write(args); err != nil {
		return nil, abi.StatusSerializationFailure
	}
	if err := w.Close(); err != nil {
		return nil, abi.StatusSerializationFailure
	}
	return b.Bytes(), abi.StatusOK
}

// ffUncompress is Envoy's "uncompress": the arguments zlib-decompressed;
// data that is not a complete zlib stream → SerializationFailure (Envoy's
// answer to any zlib error). Output beyond maxUncompressed is also
// SerializationFailure.
func ffUncompress(_ *vm, args []byte) ([]byte, abi.Status) {
	r, err := zlib.NewReader(bytes.NewReader(args))
	if err != nil {
		return nil, abi.StatusSerializationFailure
	}
	out, err := io.ReadAll(io.LimitReader(r, maxUncompressed+1))
	if err != nil || len(out) > maxUncompressed {
		return nil, abi.StatusSerializationFailure
	}
	if err := r.Close(); err != nil {
		return nil, abi.StatusSerializationFailure
	}
	return out, abi.StatusOK
}

// ffSetFilterState is Envoy's "set_envoy_filter_state": the arguments are a
// serialized SetEnvoyFilterStateArguments protobuf (1: path, 2: value,
// 3: span, ignored: Heimdall's request properties live as long as the
// request). The value is stored as the request property path, as
// proxy_set_property does, and so readable by later plugins with
// proxy_get_property. Bytes that are not that message → SerializationFailure;
// an empty path → BadArgument; outside a stream → NotFound. Envoy only
// accepts paths with a registered object factory; Heimdall accepts any,
// since request properties are plain bytes.
func ffSetFilterState(v *vm, args []byte) ([]byte, abi.Status) {
	var path, value []byte
	for len(args) > 0 {
		key, n := binary.Uvarint(args)
		if n <= 0 {
			return nil, abi.StatusSerializationFailure
		}
		args = args[n:]
		switch key & 7 {
		case 0: // varint (span)
			_, m := binary.Uvarint(args)
			if m <= 0 {
				return nil, abi.StatusSerializationFailure
			}
			args = args[m:]
		case 2: // length-delimited
			l, m := binary.Uvarint(args)
			if m <= 0 || l > uint64(len(args)-m) {
				return nil, abi.StatusSerializationFailure
			}
			b := args[m : m+int(l)]
			args = args[m+int(l):]
			switch key >> 3 {
			case 1:
				path = b
			case 2:
				value = b
			}
		default:
			return nil, abi.StatusSerializationFailure
		}
	}
	if len(path) == 0 {
		return nil, abi.StatusBadArgument
	}
	c := v.cur
	if c == nil || c.x == nil {
		return nil, abi.StatusNotFound
	}
	c.x.SetProperty(string(path), append([]byte(nil), value...))
	return nil, abi.StatusOK
}
