package proxy

import (
	"context"
	"sync/atomic"

	"github.com/heimdallgw/heimdall/internal/filter"
)

// Route is what a matched request is forwarded with.
type Route struct {
	ID   string
	Name string
	// Upstream receives the request; nil answers 503.
	Upstream *Upstream
	// Filters are the route's plugins in the order they run.
	Filters []filter.Factory
	// Observer sees the route's finished requests when the proxy has an
	// Options.Observer (metrics on); nil: none.
	Observer Observer
}

// Matcher finds the route for a request; nil means no route (404). The bytes
// are only valid during the call. It is called concurrently.
type Matcher func(method, host, path []byte) *Route

// Table is one generation of routes. Requests hold a reference on the Table
// they started with until their Stream is closed, so the gateway can wait
// for an old Table to drain (Retire) before closing its plugin factories.
type Table struct {
	match Matcher
	// matchX, when set, replaces match: it sees the whole exchange, for
	// routes whose conditions read variables or the client address.
	matchX func(x *filter.Exchange, path []byte) *Route
	// refs counts in-flight streams, plus one while the table is installed
	// in a Proxy (or not yet retired).
	refs    atomic.Int64
	retired atomic.Bool
	done    chan struct{}
}

// NewTable returns a Table that matches requests with match.
func NewTable(match Matcher) *Table {
	t := &Table{match: match, done: make(chan struct{})}
	t.refs.Store(1)
	return t
}

// NewExchangeTable is NewTable for a matcher that needs the whole exchange
// (route vars, remote_addrs). It must only read x.
func NewExchangeTable(match func(x *filter.Exchange, path []byte) *Route) *Table {
	t := &Table{matchX: match, done: make(chan struct{})}
	t.refs.Store(1)
	return t
}

// MatchExchange returns the route for x, whose path normalised for
// matching (router.NormalizePath) is path, or nil.
func (t *Table) MatchExchange(x *filter.Exchange, path []byte) *Route {
	if t != nil && t.matchX != nil {
		return t.matchX(x, path)
	}
	return t.Match(x.Req.Method, hostOnly(x.Req.Authority), path)
}

// Match returns the route for the request, or nil.
func (t *Table) Match(method, host, path []byte) *Route {
	if t == nil || t.match == nil {
		return nil
	}
	return t.match(method, host, path)
}

// acquire takes a reference unless the table already drained.
func (t *Table) acquire() bool {
	for {
		n := t.refs.Load()
		if n <= 0 {
			return false
		}
		if t.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (t *Table) release() {
	if t.refs.Add(-1) == 0 {
		close(t.done)
	}
}

// Retire drops the table's own reference (taken by NewTable) and waits until
// no request uses the table any more, or ctx ends. Call it once, after the
// table was replaced (Proxy.SetRoutes returns the old one).
func (t *Table) Retire(ctx context.Context) error {
	if t == nil {
		return nil
	}
	if t.retired.CompareAndSwap(false, true) {
		t.release()
	}
	return t.Wait(ctx)
}

// Wait waits until a retired table has drained, without releasing anything.
func (t *Table) Wait(ctx context.Context) error {
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// InFlight is the number of requests using t (for tests and metrics).
func (t *Table) InFlight() int64 {
	n := t.refs.Load()
	if !t.retired.Load() {
		n--
	}
	return max(n, 0)
}
