//go:build wasip1

package abi

import (
	"unsafe"

	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

// Higress's Redis extension to the ABI. The Go linker keeps these imports
// only in plugins that call them, so other plugins load on any host.

//go:wasmimport env proxy_redis_init
func proxyRedisInit(upstream unsafe.Pointer, upstreamLen uint32, username unsafe.Pointer, usernameLen uint32, password unsafe.Pointer, passwordLen uint32, timeoutMs uint32) uint32

//go:wasmimport env proxy_redis_call
func proxyRedisCall(upstream unsafe.Pointer, upstreamLen uint32, query unsafe.Pointer, queryLen uint32, retCalloutID *uint32) uint32

func (WasmHost) RedisInit(upstream, username, password string, timeoutMs uint32) types.Status {
	up, un := strPtr(upstream)
	sp, sn := strPtr(username)
	pp, pn := strPtr(password)
	return types.Status(proxyRedisInit(up, un, sp, sn, pp, pn, timeoutMs))
}

func (WasmHost) RedisCall(upstream string, query []byte) (uint32, types.Status) {
	up, un := strPtr(upstream)
	qp, qn := bytesPtr(query)
	o := out()
	st := proxyRedisCall(up, un, qp, qn, &o.x)
	return o.x, types.Status(st)
}
