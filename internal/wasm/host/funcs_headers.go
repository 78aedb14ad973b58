package host

import (
	"encoding/binary"
	"slices"
	"strconv"

	"github.com/heimdallgw/heimdall/internal/httpcore"
	"github.com/heimdallgw/heimdall/internal/wasm/abi"
)

// hmap is a header map as the guest sees it: the fields plus, for request
// and response headers, the pseudo headers held in Request/Response.
type hmap struct {
	h    *httpcore.Header
	req  *httpcore.Request  // request headers: :authority :path :method :scheme
	resp *httpcore.Response // response headers: :status
}

func (v *vm) headerMap(t uint64) (hmap, abi.Status) {
	switch abi.MapType(t) {
	case abi.MapHTTPRequestHeaders, abi.MapHTTPRequestTrailers, abi.MapHTTPResponseHeaders, abi.MapHTTPResponseTrailers:
		c := v.stream()
		if c == nil {
			return hmap{}, abi.StatusNotFound
		}
		x := c.x
		switch abi.MapType(t) {
		case abi.MapHTTPRequestHeaders:
			return hmap{h: &x.Req.Header, req: &x.Req}, abi.StatusOK
		case abi.MapHTTPRequestTrailers:
			return hmap{h: &x.Req.Trailer}, abi.StatusOK
		case abi.MapHTTPResponseHeaders:
			return hmap{h: &x.Resp.Header, resp: &x.Resp}, abi.StatusOK
		default:
			return hmap{h: &x.Resp.Trailer}, abi.StatusOK
		}
	case abi.MapHTTPCallResponseHeaders:
		if v.callResp == nil {
			return hmap{}, abi.StatusNotFound
		}
		return hmap{h: &v.callResp.header}, abi.StatusOK
	case abi.MapHTTPCallResponseTrailers:
		if v.callResp == nil {
			return hmap{}, abi.StatusNotFound
		}
		return hmap{h: &v.callResp.trailer}, abi.StatusOK
	case abi.MapGrpcReceiveInitialMeta, abi.MapGrpcReceiveTrailingMeta:
		return hmap{}, abi.StatusNotFound
	}
	return hmap{}, abi.StatusBadArgument
}

// Pseudo header names in Envoy's order for HTTP/1 requests, as bytes so
// that encoding a map does not convert (and allocate) them every time.
var (
	reqPseudo  = [...][]byte{[]byte(":authority"), []byte(":path"), []byte(":method"), []byte(":scheme")}
	statusName = []byte(":status")
)

func (m hmap) npseudo() int {
	switch {
	case m.req != nil:
		return len(reqPseudo)
	case m.resp != nil && m.resp.Status != 0:
		return 1
	}
	return 0
}

// pseudo returns pseudo header i; buf holds the :status digits.
func (m hmap) pseudo(i int, buf []byte) (k, val []byte) {
	if m.req != nil {
		switch i {
		case 0:
			return reqPseudo[0], m.req.Authority
		case 1:
			return reqPseudo[1], m.req.Path
		case 2:
			return reqPseudo[2], m.req.Method
		default:
			return reqPseudo[3], m.req.Scheme
		}
	}
	return statusName, m.resp.StatusBytes(buf)
}

func isPseudo(k []byte) bool { return len(k) > 0 && k[0] == ':' }

// getPseudo returns the value of pseudo header k.
func (m hmap) getPseudo(k []byte, buf []byte) ([]byte, bool) {
	switch {
	case m.req != nil:
		switch string(k) {
		case ":authority":
			return m.req.Authority, true
		case ":path":
			return m.req.Path, true
		case ":method":
			return m.req.Method, true
		case ":scheme":
			return m.req.Scheme, true
		}
	case m.resp != nil:
		if string(k) == ":status" && m.resp.Status != 0 {
			return m.resp.StatusBytes(buf), true
		}
	}
	return nil, false
}

// setPseudo writes pseudo header k; ok is false for an unknown one.
func (m hmap) setPseudo(k, val []byte) (abi.Status, bool) {
	switch {
	case m.req != nil:
		switch string(k) {
		case ":authority":
			m.req.SetAuthority(val)
		case ":path":
			m.req.SetPath(val)
		case ":method":
			m.req.SetMethod(val)
		case ":scheme":
			m.req.SetScheme(val)
		default:
			return abi.StatusOK, false
		}
		return abi.StatusOK, true
	case m.resp != nil:
		if string(k) == ":status" {
			n, err := strconv.Atoi(string(val))
			if err != nil || n < 100 || n > 999 {
				return abi.StatusBadArgument, true
			}
			m.resp.Status = n
			return abi.StatusOK, true
		}
	}
	return abi.StatusOK, false
}

// encode appends the map in proxy-wasm encoding (abi.AppendMap's format:
// count, the sizes, then each key and value NUL-terminated), sized once and
// without a per-pair callback.
func (m hmap) encode(dst []byte) []byte {
	var pk, pv [len(reqPseudo)][]byte
	var sbuf [8]byte
	np := m.npseudo()
	for i := range np {
		pk[i], pv[i] = m.pseudo(i, sbuf[:0])
	}
	fields := m.h.Fields()
	n := np + len(fields)
	size := 4 + 8*n
	for i := range np {
		size += len(pk[i]) + len(pv[i]) + 2
	}
	for _, f := range fields {
		size += len(f.Name) + len(f.Value) + 2
	}
	dst = slices.Grow(dst, size)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(n))
	for i := range np {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(pk[i])))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(pv[i])))
	}
	for _, f := range fields {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(f.Name)))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(f.Value)))
	}
	for i := range np {
		dst = append(dst, pk[i]...)
		dst = append(dst, 0)
		dst = append(dst, pv[i]...)
		dst = append(dst, 0)
	}
	for _, f := range fields {
		dst = append(dst, f.Name...)
		dst = append(dst, 0)
		dst = append(dst, f.Value...)
		dst = append(dst, 0)
	}
	return dst
}

// proxy_get_header_map_pairs(type, *ptr, *size)
func hGetHeaderMapPairs(v *vm, s []uint64) abi.Status {
	m, st := v.headerMap(s[0])
	if st != abi.StatusOK {
		return st
	}
	v.buf = m.encode(v.buf[:0])
	return v.copyOut(v.buf, s[1], s[2])
}

// proxy_get_header_map_size(type, *size): the map's byte size, as Envoy.
func hGetHeaderMapSize(v *vm, s []uint64) abi.Status {
	m, st := v.headerMap(s[0])
	if st != abi.StatusOK {
		return st
	}
	n := m.h.ByteSize()
	var sbuf [8]byte
	for i := 0; i < m.npseudo(); i++ {
		k, val := m.pseudo(i, sbuf[:0])
		n += len(k) + len(val)
	}
	if !v.writeU32(s[1], uint32(n)) {
		return abi.StatusInvalidMemoryAccess
	}
	return abi.StatusOK
}

// proxy_set_header_map_pairs(type, ptr, size): replaces the map. Pseudo
// headers given are written; those left out keep their value.
func hSetHeaderMapPairs(v *vm, s []uint64) abi.Status {
	m, st := v.headerMap(s[0])
	if st != abi.StatusOK {
		return st
	}
	data, ok := v.read(s[1], s[2])
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	if err := abi.DecodeMap(data, func(k, val []byte) {}); err != nil {
		return abi.StatusParseFailure
	}
	m.h.Reset()
	res := abi.StatusOK
	_ = abi.DecodeMap(data, func(k, val []byte) {
		if isPseudo(k) {
			if st, known := m.setPseudo(k, val); known {
				if st != abi.StatusOK {
					res = st
				}
				return
			}
		}
		m.h.Add(k, val)
	})
	return res
}

// proxy_get_header_map_value(type, key, key_len, *ptr, *size): the first
// value; NotFound when absent.
func hGetHeaderMapValue(v *vm, s []uint64) abi.Status {
	m, st := v.headerMap(s[0])
	if st != abi.StatusOK {
		return st
	}
	k, ok := v.read(s[1], s[2])
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	if isPseudo(k) {
		// v.sbuf: a local array would escape through copyOut (1 alloc).
		if val, ok := m.getPseudo(k, v.sbuf[:0]); ok {
			return v.copyOut(val, s[3], s[4])
		}
	}
	val, found := m.h.Get(string(k))
	if !found {
		return abi.StatusNotFound
	}
	return v.copyOut(val, s[3], s[4])
}

// readKV reads the key and value arguments at s[1..4].
func (v *vm) readKV(s []uint64) (k, val []byte, ok bool) {
	k, ok1 := v.read(s[1], s[2])
	val, ok2 := v.read(s[3], s[4])
	return k, val, ok1 && ok2
}

// proxy_add_header_map_value(type, key, key_len, value, value_len)
func hAddHeaderMapValue(v *vm, s []uint64) abi.Status {
	return v.writeHeader(s, (*httpcore.Header).Add)
}

// proxy_replace_header_map_value(type, key, key_len, value, value_len)
func hReplaceHeaderMapValue(v *vm, s []uint64) abi.Status {
	return v.writeHeader(s, (*httpcore.Header).Set)
}

// writeHeader is add or replace (op) of one value; on a pseudo header both
// set it.
func (v *vm) writeHeader(s []uint64, op func(h *httpcore.Header, k, val []byte)) abi.Status {
	m, st := v.headerMap(s[0])
	if st != abi.StatusOK {
		return st
	}
	k, val, ok := v.readKV(s)
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	if isPseudo(k) {
		if st, known := m.setPseudo(k, val); known {
			return st
		}
	}
	op(m.h, k, val)
	return abi.StatusOK
}

// proxy_remove_header_map_value(type, key, key_len). Removing a pseudo
// header empties it.
func hRemoveHeaderMapValue(v *vm, s []uint64) abi.Status {
	m, st := v.headerMap(s[0])
	if st != abi.StatusOK {
		return st
	}
	k, ok := v.read(s[1], s[2])
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	if isPseudo(k) && m.resp == nil {
		if st, known := m.setPseudo(k, nil); known {
			return st
		}
	}
	m.h.Del(string(k))
	return abi.StatusOK
}
