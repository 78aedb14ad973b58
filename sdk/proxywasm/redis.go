package proxywasm

import (
	"strconv"

	"github.com/heimdallgw/heimdall/sdk/proxywasm/internal/guest"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

// Higress's native Redis ABI, an extension to proxy-wasm 0.2.1 (Heimdall and
// Higress implement it; other hosts answer Unimplemented or fail to load a
// plugin that uses it). The host keeps a connection pool per upstream and
// answers asynchronously, so a plugin can Pause a request, call Redis, and
// resume it in the callback without blocking its instance.

// RedisInit prepares the host's Redis client for cluster (a host-defined
// upstream name, or host:port), with the credentials for AUTH (empty
// password: none; empty username: the default user) and the timeout of each
// call in milliseconds (0: the host's default). Call it from OnPluginStart.
// Heimdall checks the destination against the plugin's network policy here.
func RedisInit(cluster string, username, password string, timeoutMs uint32) error {
	return statusErr("proxy_redis_init", host().RedisInit(cluster, username, password, timeoutMs))
}

// DispatchRedisCall sends respQuery — one command encoded as a RESP array of
// bulk strings (RedisCommand builds one) — to cluster, which RedisInit must
// have prepared. callback runs when the answer arrives or the call fails,
// with the dispatching context as the effective context (so it can
// ResumeHttpRequest or SendHttpResponse): status 0 means Redis answered and
// GetRedisCallResponse(0, responseSize) returns the reply, RESP-encoded as
// Redis sent it (which may be an error reply such as "-ERR ..."); a non-zero
// status means there is no reply (unreachable, refused, timed out).
func DispatchRedisCall(cluster string, respQuery []byte, callback func(status int32, responseSize int)) error {
	id, st := host().RedisCall(cluster, respQuery)
	if st != types.StatusOK {
		return statusErr("proxy_redis_call", st)
	}
	guest.Current().RegisterRedisCallback(id, callback)
	return nil
}

// GetRedisCallResponse returns up to maxSize bytes from start of the reply
// being delivered to a DispatchRedisCall callback.
func GetRedisCallResponse(start, maxSize int) ([]byte, error) {
	return getBuffer(types.BufferTypeRedisCallResponse, start, maxSize)
}

// RedisCommand encodes a command and its arguments as a RESP array of bulk
// strings, the query DispatchRedisCall takes: RedisCommand("INCR", "hits").
func RedisCommand(args ...string) []byte {
	n := 16
	for _, a := range args {
		n += len(a) + 16
	}
	b := make([]byte, 0, n)
	b = append(strconv.AppendInt(append(b, '*'), int64(len(args)), 10), '\r', '\n')
	for _, a := range args {
		b = append(strconv.AppendInt(append(b, '$'), int64(len(a)), 10), '\r', '\n')
		b = append(append(b, a...), '\r', '\n')
	}
	return b
}
