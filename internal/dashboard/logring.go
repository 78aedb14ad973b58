package dashboard

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Line is one plugin log record as the dashboard shows it.
type Line struct {
	Seq    uint64            `json:"seq"`
	Time   time.Time         `json:"time"`
	Level  string            `json:"level"`
	Plugin string            `json:"plugin"`
	Route  string            `json:"route,omitempty"`
	Msg    string            `json:"msg"`
	Attrs  map[string]string `json:"attrs,omitempty"`
}

// Ring keeps the last plugin log lines (records with a "plugin"
// attribute) for the dashboard: a bounded ring, so a chatty plugin costs a
// fixed amount of memory. Safe for concurrent use.
type Ring struct {
	mu     sync.Mutex
	buf    []Line
	next   uint64 // Seq of the next line; lines are 1-based
	notify chan struct{}
}

// NewRing keeps the last n lines.
func NewRing(n int) *Ring {
	return &Ring{buf: make([]Line, 0, max(n, 1)), next: 1, notify: make(chan struct{})}
}

func (r *Ring) add(l Line) {
	r.mu.Lock()
	l.Seq = r.next
	r.next++
	if len(r.buf) < cap(r.buf) {
		r.buf = append(r.buf, l)
	} else {
		r.buf[int(l.Seq-1)%cap(r.buf)] = l
	}
	ch := r.notify
	r.notify = make(chan struct{})
	r.mu.Unlock()
	close(ch)
}

// Since returns the lines after seq still in the ring, oldest first, and a
// channel closed when the next line arrives.
func (r *Ring) Since(seq uint64) ([]Line, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	first := r.next - uint64(len(r.buf)) // Seq of the oldest line kept
	if seq+1 > first {
		first = seq + 1
	}
	var out []Line
	for s := first; s < r.next; s++ {
		out = append(out, r.buf[int(s-1)%cap(r.buf)])
	}
	return out, r.notify
}

// Handler returns a handler that writes every record to inner and also
// keeps the plugin ones in r. Enabled is inner's: the ring sees what the
// error log writes.
func (r *Ring) Handler(inner slog.Handler) slog.Handler {
	return &tee{inner: inner, ring: r}
}

type tee struct {
	inner slog.Handler
	ring  *Ring
	attrs []slog.Attr // from WithAttrs, groups flattened
	group string
}

func (t *tee) Enabled(ctx context.Context, l slog.Level) bool { return t.inner.Enabled(ctx, l) }

func (t *tee) Handle(ctx context.Context, rec slog.Record) error {
	err := t.inner.Handle(ctx, rec)
	l := Line{Time: rec.Time, Level: rec.Level.String(), Msg: rec.Message}
	take := func(a slog.Attr) bool {
		k := a.Key
		v := a.Value.Resolve().String()
		switch k {
		case "plugin":
			l.Plugin = v
		case "route":
			l.Route = v
		default:
			if l.Attrs == nil {
				l.Attrs = map[string]string{}
			}
			l.Attrs[k] = v
		}
		return true
	}
	for _, a := range t.attrs {
		take(a)
	}
	rec.Attrs(take)
	if l.Plugin != "" {
		t.ring.add(l)
	}
	return err
}

func (t *tee) WithAttrs(as []slog.Attr) slog.Handler {
	n := *t
	n.inner = t.inner.WithAttrs(as)
	n.attrs = append(append([]slog.Attr(nil), t.attrs...), as...)
	return &n
}

func (t *tee) WithGroup(name string) slog.Handler {
	n := *t
	n.inner = t.inner.WithGroup(name)
	return &n
}
