package proxywasm

import "github.com/heimdallgw/heimdall/sdk/proxywasm/internal/abi"

// GetSharedData returns the value stored under key in the host's shared
// key-value store and its compare-and-swap token.
func GetSharedData(key string) (value []byte, cas uint32, err error) {
	v, c, st := host().GetSharedData(key)
	return abi.Own(v), c, statusErr("proxy_get_shared_data", st)
}

// SetSharedData stores value under key. A non-zero cas must match the token
// of the current value (types.ErrorStatusCasMismatch otherwise); 0 writes
// unconditionally.
func SetSharedData(key string, value []byte, cas uint32) error {
	return statusErr("proxy_set_shared_data", host().SetSharedData(key, value, cas))
}

// RegisterSharedQueue creates (or opens) the queue name owned by this VM;
// the active plugin context's OnQueueReady is called when items arrive.
func RegisterSharedQueue(name string) (uint32, error) {
	id, st := host().RegisterSharedQueue(name)
	return id, statusErr("proxy_register_shared_queue", st)
}

// ResolveSharedQueue finds the queue name registered by VM vmID.
func ResolveSharedQueue(vmID, name string) (uint32, error) {
	id, st := host().ResolveSharedQueue(vmID, name)
	return id, statusErr("proxy_resolve_shared_queue", st)
}

// EnqueueSharedQueue appends data to a queue.
func EnqueueSharedQueue(queueID uint32, data []byte) error {
	return statusErr("proxy_enqueue_shared_queue", host().EnqueueSharedQueue(queueID, data))
}

// DequeueSharedQueue pops the oldest item; types.ErrorStatusEmpty when the
// queue is empty.
func DequeueSharedQueue(queueID uint32) ([]byte, error) {
	b, st := host().DequeueSharedQueue(queueID)
	return abi.Own(b), statusErr("proxy_dequeue_shared_queue", st)
}
