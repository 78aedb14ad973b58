package egress

import (
	"log/slog"
	"maps"
	"sync"
)

// maxLogged bounds the refusals remembered for log de-duplication: a plugin
// trying many destinations cannot grow memory. Once full, new ones are still
// counted but no longer logged (one line says so).
const maxLogged = 1024

// refusals logs each refusal once and counts all of them.
type refusals struct {
	log    *slog.Logger
	plugin string

	mu     sync.Mutex
	logged map[refusalKey]struct{}
	full   bool
	byOp   map[string]uint64
}

type refusalKey struct{ op, dest, reason string }

func (r *refusals) init(log *slog.Logger, plugin string) {
	r.log, r.plugin = log, plugin
	r.logged = make(map[refusalKey]struct{})
	r.byOp = make(map[string]uint64)
}

func (r *refusals) add(op, dest, reason string) {
	k := refusalKey{op, dest, reason}
	r.mu.Lock()
	r.byOp[op]++
	_, seen := r.logged[k]
	first, notice := false, false
	switch {
	case seen:
	case len(r.logged) < maxLogged:
		r.logged[k] = struct{}{}
		first = true
	case !r.full:
		r.full, notice = true, true
	}
	r.mu.Unlock()
	if first {
		r.log.Warn("plugin network access refused", "plugin", r.plugin, "op", op, "destination", dest, "reason", reason)
	}
	if notice {
		r.log.Warn("plugin network access refused for too many destinations: further ones are counted, not logged",
			"plugin", r.plugin, "logged", maxLogged)
	}
}

func (r *refusals) counts() map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.byOp)
}
