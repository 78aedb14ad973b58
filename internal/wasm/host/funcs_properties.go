package host

import (
	"bytes"
	"encoding/binary"
	"net"
	"strconv"
	"strings"

	"github.com/heimdallgw/heimdall/internal/wasm/abi"
)

// propertyPath turns a NUL-separated path ("request\0path") into the dotted
// form ("request.path").
func propertyPath(b []byte) string {
	b = bytes.TrimRight(b, "\x00")
	return strings.ReplaceAll(string(b), "\x00", ".")
}

func int64LE(dst []byte, n int64) []byte { return binary.LittleEndian.AppendUint64(dst, uint64(n)) }

// property resolves an Envoy attribute (or a value stored with
// set_property). Integers are 8-byte little-endian, booleans one byte,
// as Envoy serializes them.
func (v *vm) property(path string) ([]byte, abi.Status) {
	c := v.cur
	// Values a plugin stored win, so that set_property reads back.
	if c != nil {
		if x := c.x; x != nil {
			if val, ok := x.Property(path); ok {
				return val, abi.StatusOK
			}
		} else if r := c.rootOf(); r.props != nil {
			if val, ok := r.props[path]; ok {
				return val, abi.StatusOK
			}
		}
	}
	switch path {
	case "plugin_name":
		return []byte(v.p.cfg.Name), abi.StatusOK
	case "plugin_root_id":
		return []byte(v.p.cfg.RootID), abi.StatusOK
	case "plugin_vm_id":
		return []byte(v.p.cfg.VMID), abi.StatusOK
	}
	sc := v.stream()
	if sc == nil {
		return nil, abi.StatusNotFound
	}
	x := sc.x
	buf := v.buf[:0]
	switch path {
	case "request.path":
		return x.Req.Path, abi.StatusOK
	case "request.url_path":
		return x.Req.URLPath(), abi.StatusOK
	case "request.query":
		return x.Req.Query(), abi.StatusOK
	case "request.host":
		return x.Req.Authority, abi.StatusOK
	case "request.method":
		return x.Req.Method, abi.StatusOK
	case "request.scheme":
		return x.Req.Scheme, abi.StatusOK
	case "request.protocol":
		return []byte(x.Req.Proto), abi.StatusOK
	case "request.id":
		return []byte(x.RequestID), abi.StatusOK
	case "request.time":
		return int64LE(buf, x.Start.UnixNano()), abi.StatusOK
	case "request.headers":
		return hmap{h: &x.Req.Header, req: &x.Req}.encode(buf), abi.StatusOK
	case "request.referer":
		val, _ := x.Req.Header.Get("referer")
		return val, abi.StatusOK
	case "request.useragent":
		val, _ := x.Req.Header.Get("user-agent")
		return val, abi.StatusOK
	case "response.code":
		if x.Resp.Status == 0 {
			return nil, abi.StatusNotFound
		}
		return int64LE(buf, int64(x.Resp.Status)), abi.StatusOK
	case "response.headers":
		return hmap{h: &x.Resp.Header, resp: &x.Resp}.encode(buf), abi.StatusOK
	case "source.address":
		return []byte(x.Client), abi.StatusOK
	case "source.port":
		return portOf(buf, x.Client)
	case "destination.address":
		return []byte(x.Local), abi.StatusOK
	case "destination.port":
		return portOf(buf, x.Local)
	case "upstream.address":
		if x.Upstream == "" {
			return nil, abi.StatusNotFound
		}
		return []byte(x.Upstream), abi.StatusOK
	case "upstream.port":
		return portOf(buf, x.Upstream)
	case "connection.mtls":
		return []byte{0}, abi.StatusOK
	case "connection.tls":
		if x.TLS {
			return []byte{1}, abi.StatusOK
		}
		return []byte{0}, abi.StatusOK
	case "route_name":
		if x.RouteName != "" {
			return []byte(x.RouteName), abi.StatusOK
		}
		return []byte(x.RouteID), abi.StatusOK
	case "route_id":
		return []byte(x.RouteID), abi.StatusOK
	case "cluster_name":
		return []byte(x.UpstreamID), abi.StatusOK
	}
	if name, ok := strings.CutPrefix(path, "request.headers."); ok {
		if val, found := x.Req.Header.Get(name); found {
			return val, abi.StatusOK
		}
		return nil, abi.StatusNotFound
	}
	if name, ok := strings.CutPrefix(path, "response.headers."); ok {
		if val, found := x.Resp.Header.Get(name); found {
			return val, abi.StatusOK
		}
		return nil, abi.StatusNotFound
	}
	return nil, abi.StatusNotFound
}

func portOf(buf []byte, addr string) ([]byte, abi.Status) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, abi.StatusNotFound
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return nil, abi.StatusNotFound
	}
	return int64LE(buf, int64(n)), abi.StatusOK
}

// proxy_get_property(path, path_len, *ptr, *size)
func hGetProperty(v *vm, s []uint64) abi.Status {
	b, ok := v.read(s[0], s[1])
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	val, st := v.property(propertyPath(b))
	if st != abi.StatusOK {
		return st
	}
	return v.copyOut(val, s[2], s[3])
}

// proxy_set_property(path, path_len, value, value_len): stored per stream
// (per root context outside a stream) and readable back.
func hSetProperty(v *vm, s []uint64) abi.Status {
	b, ok1 := v.read(s[0], s[1])
	val, ok2 := v.read(s[2], s[3])
	if !ok1 || !ok2 {
		return abi.StatusInvalidMemoryAccess
	}
	path := propertyPath(b)
	if path == "" {
		return abi.StatusBadArgument
	}
	c := v.cur
	if c == nil {
		return abi.StatusNotFound
	}
	if c.x == nil {
		r := c.rootOf()
		if r.props == nil {
			r.props = map[string][]byte{}
		}
		r.props[path] = append([]byte(nil), val...)
		return abi.StatusOK
	}
	c.x.SetProperty(path, val)
	switch path {
	case PropProcessReqBody:
		c.s.wantReqBody = true
	case PropProcessRespBody:
		c.s.wantRespBody = true
	}
	return abi.StatusOK
}
