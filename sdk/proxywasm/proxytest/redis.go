package proxytest

import (
	"fmt"
	"maps"
	"slices"

	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

// RedisInit is a RedisInit call the plugin made.
type RedisInit struct {
	Cluster, Username, Password string
	TimeoutMs                   uint32
}

// RedisCallout is a command the plugin sent with DispatchRedisCall.
type RedisCallout struct {
	ID        uint32
	ContextID uint32 // context that dispatched it
	Cluster   string
	Query     []byte // RESP, as the plugin encoded it
}

type redisEmu struct {
	inits    []RedisInit
	callouts map[uint32]*RedisCallout
	next     uint32
	reply    *[]byte // during CallOnRedisCallResponse
}

// RedisInits returns the RedisInit calls made so far, in order.
func (h *HostEmulator) RedisInits() []RedisInit { return slices.Clone(h.redis.inits) }

// RedisCallouts returns the dispatched Redis commands not answered yet, by id.
func (h *HostEmulator) RedisCallouts() []RedisCallout {
	out := make([]RedisCallout, 0, len(h.redis.callouts))
	for _, id := range slices.Sorted(maps.Keys(h.redis.callouts)) {
		c := *h.redis.callouts[id]
		c.Query = slices.Clone(c.Query)
		out = append(out, c)
	}
	return out
}

// CallOnRedisCallResponse answers a dispatched Redis command and runs its
// callback: status 0 with reply (RESP, e.g. ":42\r\n") as the host's buffer
// type 9, or a non-zero status for a failed call (reply is then ignored).
// The callout is then no longer pending.
func (h *HostEmulator) CallOnRedisCallResponse(calloutID uint32, status int32, reply []byte) {
	if _, ok := h.redis.callouts[calloutID]; !ok {
		panic(fmt.Sprintf("proxytest: unknown redis callout %d", calloutID))
	}
	delete(h.redis.callouts, calloutID)
	if status != 0 {
		reply = nil
	}
	b := slices.Clone(reply)
	if b == nil {
		b = []byte{}
	}
	h.redis.reply = &b
	defer func() { h.redis.reply = nil }()
	h.state.OnRedisCallResponse(PluginContextID, calloutID, status, len(b))
}

// RedisInit implements the host side of proxy_redis_init: it records the
// call; an empty cluster is a BadArgument.
func (h *HostEmulator) RedisInit(cluster, username, password string, timeoutMs uint32) types.Status {
	if cluster == "" {
		return types.StatusBadArgument
	}
	h.redis.inits = append(h.redis.inits, RedisInit{Cluster: cluster, Username: username, Password: password, TimeoutMs: timeoutMs})
	return types.StatusOK
}

// RedisCall implements the host side of proxy_redis_call: the cluster must
// have been initialised and the query must not be empty.
func (h *HostEmulator) RedisCall(cluster string, query []byte) (uint32, types.Status) {
	if len(query) == 0 || !slices.ContainsFunc(h.redis.inits, func(i RedisInit) bool { return i.Cluster == cluster }) {
		return 0, types.StatusBadArgument
	}
	if h.redis.callouts == nil {
		h.redis.callouts = map[uint32]*RedisCallout{}
	}
	h.redis.next++
	h.redis.callouts[h.redis.next] = &RedisCallout{
		ID:        h.redis.next,
		ContextID: h.state.ActiveContextID(),
		Cluster:   cluster,
		Query:     slices.Clone(query),
	}
	return h.redis.next, types.StatusOK
}
