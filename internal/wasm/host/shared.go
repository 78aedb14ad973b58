package host

import (
	"log/slog"
	"sync"

	"github.com/heimdallgw/heimdall/internal/wasm/abi"
)

// Shared is the shared key-value data and the shared queues of proxy-wasm,
// namespaced by vm_id. One Shared is meant for the whole process (Envoy
// shares across all VMs with the same vm_id); pass it in PluginConfig.
type Shared struct {
	mu        sync.Mutex
	data      map[string]map[string]*sharedEntry
	bytes     map[string]int64  // per vm_id: keys and values held
	queues    map[string]*queue // vm_id + "\x00" + name
	byToken   map[uint32]*queue
	nextToken uint32
}

type sharedEntry struct {
	value []byte
	cas   uint32
}

type queue struct {
	token uint32
	items [][]byte
	// notify tells the registering root context that data is ready.
	notify func(token uint32)
}

// NewShared returns an empty store.
func NewShared() *Shared {
	return &Shared{
		data:    map[string]map[string]*sharedEntry{},
		bytes:   map[string]int64{},
		queues:  map[string]*queue{},
		byToken: map[uint32]*queue{},
	}
}

func (sh *Shared) get(vmID, key string) ([]byte, uint32, bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.data[vmID][key]
	if e == nil {
		return nil, 0, false
	}
	return e.value, e.cas, true
}

// The limits set reports when the namespace would exceed one (the status
// is then InternalFailure).
const (
	limitNone = ""
	limitKeys = "max_shared_data_keys"
	limitSize = "max_shared_data_bytes"
)

func (sh *Shared) set(vmID, key string, value []byte, cas uint32, lim Limits) (abi.Status, string) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	m := sh.data[vmID]
	if m == nil {
		m = map[string]*sharedEntry{}
		sh.data[vmID] = m
	}
	e := m[key]
	var old int64
	if e == nil {
		if cas != 0 {
			return abi.StatusCasMismatch, limitNone
		}
		if len(m) >= lim.SharedDataKeys {
			return abi.StatusInternalFailure, limitKeys
		}
		old = -int64(len(key)) // the key is new: it counts too
	} else if cas != 0 && cas != e.cas {
		return abi.StatusCasMismatch, limitNone
	} else {
		old = int64(len(e.value))
	}
	grow := int64(len(value)) - old
	if grow > 0 && sh.bytes[vmID]+grow > lim.SharedDataBytes {
		return abi.StatusInternalFailure, limitSize
	}
	sh.bytes[vmID] += grow
	if e == nil {
		e = &sharedEntry{}
		m[key] = e
	}
	// Values are replaced, never modified, so readers may keep old ones.
	e.value = append([]byte(nil), value...)
	e.cas++
	if e.cas == 0 {
		e.cas = 1
	}
	return abi.StatusOK, limitNone
}

// proxy_get_shared_data(key, key_len, *value_ptr, *value_len, *cas)
func hGetSharedData(v *vm, s []uint64) abi.Status {
	k, ok := v.readString(s[0], s[1])
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	val, cas, found := v.p.shared.get(v.p.cfg.VMID, k)
	if !found {
		return abi.StatusNotFound
	}
	if !v.writeU32(s[4], cas) {
		return abi.StatusInvalidMemoryAccess
	}
	return v.copyOut(val, s[2], s[3])
}

// proxy_set_shared_data(key, key_len, value, value_len, cas)
func hSetSharedData(v *vm, s []uint64) abi.Status {
	k, ok1 := v.readString(s[0], s[1])
	val, ok2 := v.read(s[2], s[3])
	if !ok1 || !ok2 {
		return abi.StatusInvalidMemoryAccess
	}
	st, lim := v.p.shared.set(v.p.cfg.VMID, k, val, uint32(s[4]), v.p.cfg.Limits)
	if lim != limitNone {
		v.limitExceeded(lim, slog.String("key", k))
	}
	return st
}

// proxy_register_shared_queue(name, name_len, *token): the calling root
// context gets proxy_on_queue_ready when data is enqueued.
func hRegisterSharedQueue(v *vm, s []uint64) abi.Status {
	name, ok := v.readString(s[0], s[1])
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	if v.cur == nil {
		return abi.StatusBadArgument
	}
	r := v.cur.rootOf()
	p, slot, gen := v.p, v.inst.Slot(), v.inst.Gen
	notify := func(token uint32) {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.onInstance(slot, gen, func(v *vm) {
				if r.deleted || !v.fn.onQueueReady.Valid() {
					return
				}
				if err := v.callCtx(v.fn.onQueueReady, r, uint64(r.id), uint64(token)); err != nil {
					v.trapped(r, "proxy_on_queue_ready", err)
				}
			})
		}()
	}
	sh := v.p.shared
	sh.mu.Lock()
	key := v.p.cfg.VMID + "\x00" + name
	q := sh.queues[key]
	if q == nil {
		sh.nextToken++
		q = &queue{token: sh.nextToken}
		sh.queues[key] = q
		sh.byToken[q.token] = q
	}
	q.notify = notify
	token := q.token
	sh.mu.Unlock()
	if !v.writeU32(s[2], token) {
		return abi.StatusInvalidMemoryAccess
	}
	return abi.StatusOK
}

// proxy_resolve_shared_queue(vm_id, vm_id_len, name, name_len, *token)
func hResolveSharedQueue(v *vm, s []uint64) abi.Status {
	vmID, ok1 := v.readString(s[0], s[1])
	name, ok2 := v.readString(s[2], s[3])
	if !ok1 || !ok2 {
		return abi.StatusInvalidMemoryAccess
	}
	sh := v.p.shared
	sh.mu.Lock()
	q := sh.queues[vmID+"\x00"+name]
	sh.mu.Unlock()
	if q == nil {
		return abi.StatusNotFound
	}
	if !v.writeU32(s[4], q.token) {
		return abi.StatusInvalidMemoryAccess
	}
	return abi.StatusOK
}

// proxy_enqueue_shared_queue(token, data, data_len)
func hEnqueueSharedQueue(v *vm, s []uint64) abi.Status {
	data, ok := v.read(s[1], s[2])
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	sh := v.p.shared
	sh.mu.Lock()
	q := sh.byToken[uint32(s[0])]
	if q == nil {
		sh.mu.Unlock()
		return abi.StatusNotFound
	}
	if len(q.items) >= v.p.cfg.Limits.QueueDepth {
		sh.mu.Unlock()
		v.limitExceeded("max_queue_depth", slog.Uint64("queue", s[0]))
		return abi.StatusInternalFailure
	}
	q.items = append(q.items, append([]byte(nil), data...))
	notify, token := q.notify, q.token
	sh.mu.Unlock()
	if notify != nil {
		notify(token)
	}
	return abi.StatusOK
}

// proxy_dequeue_shared_queue(token, *ptr, *size): Empty when empty.
func hDequeueSharedQueue(v *vm, s []uint64) abi.Status {
	sh := v.p.shared
	sh.mu.Lock()
	q := sh.byToken[uint32(s[0])]
	if q == nil {
		sh.mu.Unlock()
		return abi.StatusNotFound
	}
	if len(q.items) == 0 {
		sh.mu.Unlock()
		return abi.StatusEmpty
	}
	item := q.items[0]
	q.items[0] = nil
	q.items = q.items[1:]
	sh.mu.Unlock()
	return v.copyOut(item, s[1], s[2])
}
