package sockets

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// variant is one signature of a host function.
type variant struct {
	params []string
	fn     func(*call) errno
}

// hostFunc is a function Export registers. Functions with two signatures
// (WasmEdge V1 and V2) pick the one matching the guest's import by parameter
// count, as WasmEdge does; without an import V1 is registered.
type hostFunc struct {
	name     string
	variants []variant
	// shared functions also serve wazero's descriptors: calls whose first
	// argument is not a socket go to wazero's implementation.
	shared bool
}

func v(fn func(*call) errno, params ...string) variant { return variant{params: params, fn: fn} }

var (
	vOpen        = v(sockOpen, "af", "socktype", "fd_ptr")
	vBind        = v(sockBind, "fd", "addr_ptr", "port")
	vConnect     = v(sockConnect, "fd", "addr_ptr", "port")
	vListen      = v(sockListen, "fd", "backlog")
	vAcceptV1    = v(sockAccept, "fd", "new_fd_ptr")
	vAcceptV2    = v(sockAccept, "fd", "fdflags", "new_fd_ptr")
	vRecv        = v(sockRecv, "fd", "iovs", "iovs_len", "riflags", "n_ptr", "roflags_ptr")
	vRecvFromV1  = v(sockRecvFrom, "fd", "iovs", "iovs_len", "addr_ptr", "riflags", "n_ptr", "roflags_ptr")
	vRecvFromV2  = v(sockRecvFrom, "fd", "iovs", "iovs_len", "addr_ptr", "riflags", "port_ptr", "n_ptr", "roflags_ptr")
	vSend        = v(sockSend, "fd", "iovs", "iovs_len", "siflags", "n_ptr")
	vSendTo      = v(sockSendTo, "fd", "iovs", "iovs_len", "addr_ptr", "port", "siflags", "n_ptr")
	vLocalAddrV1 = v(sockAddr(false), "fd", "addr_ptr", "addr_type_ptr", "port_ptr")
	vLocalAddrV2 = v(sockAddr(false), "fd", "addr_ptr", "port_ptr")
	vPeerAddrV1  = v(sockAddr(true), "fd", "addr_ptr", "addr_type_ptr", "port_ptr")
	vPeerAddrV2  = v(sockAddr(true), "fd", "addr_ptr", "port_ptr")
)

func hostFuncs() []hostFunc {
	return []hostFunc{
		{name: "sock_open", variants: []variant{vOpen}},
		{name: "sock_bind", variants: []variant{vBind}},
		{name: "sock_connect", variants: []variant{vConnect}},
		{name: "sock_listen", variants: []variant{vListen}},
		{name: "sock_accept", variants: []variant{vAcceptV1, vAcceptV2}, shared: true},
		{name: "sock_recv", variants: []variant{vRecv}, shared: true},
		{name: "sock_recv_from", variants: []variant{vRecvFromV1, vRecvFromV2}},
		{name: "sock_send", variants: []variant{vSend}, shared: true},
		{name: "sock_send_to", variants: []variant{vSendTo}},
		{name: "sock_shutdown", variants: []variant{v(sockShutdown, "fd", "how")}, shared: true},
		{name: "sock_getsockopt", variants: []variant{v(sockGetsockopt, "fd", "level", "name", "val_ptr", "val_len_ptr")}},
		{name: "sock_setsockopt", variants: []variant{v(sockSetsockopt, "fd", "level", "name", "val_ptr", "val_len")}},
		{name: "sock_getlocaladdr", variants: []variant{vLocalAddrV1, vLocalAddrV2}},
		{name: "sock_getpeeraddr", variants: []variant{vPeerAddrV1, vPeerAddrV2}},
		{name: "sock_getaddrinfo", variants: []variant{v(sockGetaddrinfo, "node", "node_len", "service", "service_len", "hints_ptr", "res_ptr", "max_res", "n_ptr")}},
		// WasmEdge's explicit V2 names.
		{name: "sock_open_v2", variants: []variant{vOpen}},
		{name: "sock_bind_v2", variants: []variant{vBind}},
		{name: "sock_connect_v2", variants: []variant{vConnect}},
		{name: "sock_listen_v2", variants: []variant{vListen}},
		{name: "sock_accept_v2", variants: []variant{vAcceptV2}},
		{name: "sock_recv_v2", variants: []variant{vRecv}},
		{name: "sock_recv_from_v2", variants: []variant{vRecvFromV2}},
		{name: "sock_send_v2", variants: []variant{vSend}},
		{name: "sock_send_to_v2", variants: []variant{vSendTo}},
		{name: "sock_getlocaladdr_v2", variants: []variant{vLocalAddrV2}},
		{name: "sock_getpeeraddr_v2", variants: []variant{vPeerAddrV2}},
		// Descriptor functions shared with wazero.
		{name: "fd_read", variants: []variant{v(fdRead, "fd", "iovs", "iovs_len", "nread_ptr")}, shared: true},
		{name: "fd_write", variants: []variant{v(fdWrite, "fd", "iovs", "iovs_len", "nwritten_ptr")}, shared: true},
		{name: "fd_close", variants: []variant{v(fdClose, "fd")}, shared: true},
		{name: "fd_fdstat_get", variants: []variant{v(fdFdstatGet, "fd", "result_ptr")}, shared: true},
		{name: "fd_fdstat_set_flags", variants: []variant{v(fdFdstatSetFlags, "fd", "flags")}, shared: true},
	}
}

// Export adds the socket functions to the wasi_snapshot_preview1 host module
// of a plugin; other modules are left alone.
func (e *Extension) Export(module string, b wazero.HostModuleBuilder, imports []api.FunctionDefinition) error {
	if module != wasi_snapshot_preview1.ModuleName {
		return nil
	}
	imported := map[string]int{}
	for _, def := range imports {
		if _, name, ok := def.Import(); ok {
			imported[name] = len(def.ParamTypes())
		}
	}
	for _, hf := range hostFuncs() {
		vr := hf.variants[0]
		if n, ok := imported[hf.name]; ok {
			found := false
			for _, cand := range hf.variants {
				if len(cand.params) == n {
					vr, found = cand, true
				}
			}
			if !found {
				var want []string
				for _, cand := range hf.variants {
					want = append(want, fmt.Sprint(len(cand.params)))
				}
				return fmt.Errorf("import %s.%s has %d parameters; supported: %s", module, hf.name, n, strings.Join(want, " or "))
			}
		}
		e.export(b, hf.name, vr, hf.shared)
	}
	b.NewFunctionBuilder().
		WithGoModuleFunction(e.pollFunc(), i32s(4), i32s(1)).
		WithParameterNames("in", "out", "nsubscriptions", "result_nevents").
		Export("poll_oneoff")
	return nil
}

func i32s(n int) []api.ValueType {
	t := make([]api.ValueType, n)
	for i := range t {
		t[i] = api.ValueTypeI32
	}
	return t
}

func (e *Extension) export(b wazero.HostModuleBuilder, name string, vr variant, shared bool) {
	orig := e.wasi[name]
	n := len(vr.params)
	fn := api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
		if shared && uint32(stack[0]) < FirstFD {
			if orig.fn != nil && orig.params == n {
				orig.fn.Call(ctx, mod, stack)
			} else {
				stack[0] = uint64(errnoNotsock)
			}
			return
		}
		p := make([]uint32, n)
		for i := range p {
			p[i] = uint32(stack[i])
		}
		c := &call{ctx: ctx, in: e.instance(mod), m: memOf(mod), p: p}
		var r errno
		if c.m.fault {
			r = errnoFault
		} else {
			r = vr.fn(c)
		}
		stack[0] = uint64(r)
	})
	b.NewFunctionBuilder().
		WithGoModuleFunction(fn, i32s(n), i32s(1)).
		WithParameterNames(vr.params...).
		WithResultNames("errno").
		Export(name)
}

func (e *Extension) pollFunc() api.GoModuleFunc {
	orig := e.wasi["poll_oneoff"]
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		m := memOf(mod)
		if !pollHasSocket(m, uint32(stack[0]), uint32(stack[2])) {
			orig.fn.Call(ctx, mod, stack)
			return
		}
		p := []uint32{uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])}
		stack[0] = uint64(pollOneoff(&call{ctx: ctx, in: e.instance(mod), m: m, p: p}))
	}
}

// names lists the functions Export registers (for documentation and tests).
func names() []string {
	var out []string
	for _, hf := range hostFuncs() {
		out = append(out, hf.name)
	}
	out = append(out, "poll_oneoff")
	sort.Strings(out)
	return out
}
