package host

import (
	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/wasm/abi"
)

// buffer returns the bytes of buffer type t, and the body for the bodies.
func (v *vm) buffer(t uint64) ([]byte, *filter.Body, abi.Status) {
	switch bt := abi.BufferType(t); bt {
	case abi.BufferHTTPRequestBody, abi.BufferHTTPResponseBody:
		if v.body == nil || v.bodyType != bt || v.stream() == nil {
			return nil, nil, abi.StatusNotFound
		}
		return v.body.B, v.body, abi.StatusOK
	case abi.BufferHTTPCallResponseBody:
		if v.callResp == nil {
			return nil, nil, abi.StatusNotFound
		}
		return v.callResp.body, nil, abi.StatusOK
	case abi.BufferVMConfiguration:
		return v.p.cfg.VMConfig, nil, abi.StatusOK
	case abi.BufferPluginConfiguration:
		if v.cur == nil {
			return nil, nil, abi.StatusNotFound
		}
		return v.cur.rootOf().f.conf, nil, abi.StatusOK
	case abi.BufferRedisCallResponse:
		if v.redisResp == nil {
			return nil, nil, abi.StatusNotFound
		}
		return v.redisResp.data, nil, abi.StatusOK
	case abi.BufferDownstreamData, abi.BufferUpstreamData, abi.BufferGrpcReceiveBuffer,
		abi.BufferCallData:
		return nil, nil, abi.StatusNotFound
	}
	return nil, nil, abi.StatusBadArgument
}

// proxy_get_buffer_bytes(type, start, max, *ptr, *size)
func hGetBufferBytes(v *vm, s []uint64) abi.Status {
	b, _, st := v.buffer(s[0])
	if st != abi.StatusOK {
		return st
	}
	start, n := uint64(uint32(s[1])), uint64(uint32(s[2]))
	if start > uint64(len(b)) {
		start = uint64(len(b))
	}
	end := start + n
	if end > uint64(len(b)) {
		end = uint64(len(b))
	}
	return v.copyOut(b[start:end], s[3], s[4])
}

// proxy_set_buffer_bytes(type, start, len, ptr, size): replaces
// [start, start+len) of the current body with the data (start 0 len 0
// prepends, start >= size appends, start 0 len >= size replaces).
func hSetBufferBytes(v *vm, s []uint64) abi.Status {
	_, body, st := v.buffer(s[0])
	if st != abi.StatusOK {
		return st
	}
	if body == nil {
		return abi.StatusBadArgument
	}
	data, ok := v.read(s[3], s[4])
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	start, n := int(uint32(s[1])), int(uint32(s[2]))
	body.Splice(start, n, data)
	return abi.StatusOK
}

// proxy_get_buffer_status(type, *length, *flags)
func hGetBufferStatus(v *vm, s []uint64) abi.Status {
	b, _, st := v.buffer(s[0])
	if st != abi.StatusOK {
		return st
	}
	if !v.writeU32(s[1], uint32(len(b))) || !v.writeU32(s[2], 0) {
		return abi.StatusInvalidMemoryAccess
	}
	return abi.StatusOK
}

// proxy_get_configuration(*ptr, *size) (0.1.0): the plugin configuration.
func hGetConfiguration(v *vm, s []uint64) abi.Status {
	b, _, st := v.buffer(uint64(abi.BufferPluginConfiguration))
	if st != abi.StatusOK {
		return st
	}
	return v.copyOut(b, s[0], s[1])
}
