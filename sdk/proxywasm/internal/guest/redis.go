package guest

import "github.com/heimdallgw/heimdall/sdk/proxywasm/types"

// RedisCallback receives the answer of a DispatchRedisCall: status 0 when
// Redis answered (the reply, RESP-encoded, is responseSize bytes of buffer
// type 9), non-zero when the host could not get an answer.
type RedisCallback func(status int32, responseSize int)

type pendingRedis struct {
	callback  RedisCallback
	contextID uint32 // context that dispatched the call
}

// RegisterRedisCallback stores cb for the answer to calloutID, in the plugin
// context the active context belongs to. Redis callouts have their own ids,
// apart from HTTP callouts, as in Higress's SDK.
func (s *State) RegisterRedisCallback(calloutID uint32, cb RedisCallback) {
	root := s.rootOf(s.active)
	if root == nil {
		return
	}
	if root.redis == nil {
		root.redis = map[uint32]pendingRedis{}
	}
	root.redis[calloutID] = pendingRedis{callback: cb, contextID: s.active}
}

// PendingRedisCalls reports how many Redis callbacks are waiting, for tests.
func (s *State) PendingRedisCalls() int {
	n := 0
	for _, p := range s.plugins {
		n += len(p.redis)
	}
	return n
}

// OnRedisCallResponse is proxy_on_redis_call_response. Like an HTTP call
// answer, the callback runs with the dispatching stream as the effective
// context; a callback for a stream that is gone is dropped.
func (s *State) OnRedisCallResponse(rootID, calloutID uint32, status int32, responseSize int) {
	s.active = rootID
	p, ok := s.plugins[rootID]
	if !ok {
		return
	}
	call, ok := p.redis[calloutID]
	if !ok {
		return
	}
	delete(p.redis, calloutID)
	if call.contextID != rootID {
		_, isHttp := s.https[call.contextID]
		_, isTcp := s.tcps[call.contextID]
		if !isHttp && !isTcp {
			return
		}
		if s.host != nil && s.host.SetEffectiveContext(call.contextID) == types.StatusOK {
			s.active = call.contextID
		}
	}
	if call.callback != nil {
		call.callback(status, responseSize)
	}
}
