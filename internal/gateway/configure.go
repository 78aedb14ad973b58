package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/proxy"
	"github.com/heimdallgw/heimdall/internal/store"
	"github.com/heimdallgw/heimdall/internal/wasm/host"
)

// DefaultConfigureWait is how long Apply waits for plugins to accept a new
// configuration (on_configure) before it installs the routes that are ready
// and lets the others follow when their plugins are done.
const DefaultConfigureWait = time.Second

// errConfRejected is a job's error when the plugin's on_configure returned
// false for the route's conf.
var errConfRejected = fmt.Errorf("rejected its conf (proxy_on_configure returned false; the plugin's own log lines say why): %w", host.ErrRejected)

// job configures one plugin for one route (on_configure) in the background.
// done is closed when c or err is set.
type job struct {
	key, where string
	done       chan struct{}
	c          io.Closer
	err        error
}

func (j *job) finished() bool {
	select {
	case <-j.done:
		return true
	default:
		return false
	}
}

// startJobs starts a job for every plugin configuration routes need that is
// neither live nor already being configured, and returns all jobs routes
// waits for. The caller holds gw.mu.
func (gw *Gateway) startJobs(ctx context.Context, routes *config.Routes) []*job {
	var need []*job
	seen := make(map[string]bool)
	for _, r := range routes.Routes {
		if !r.Enabled {
			continue
		}
		for _, w := range r.Wasm {
			key := factoryKey(w.Name, r.ID, w.Conf)
			if _, ok := gw.live[key]; ok || seen[key] {
				continue
			}
			seen[key] = true
			if j, ok := gw.jobs[key]; ok {
				need = append(need, j)
				continue
			}
			j := &job{
				key:   key,
				where: fmt.Sprintf("%s:%d:%d: route %s: plugin %s", routes.File, r.Line, r.Column, r.ID, w.Name),
				done:  make(chan struct{}),
			}
			gw.jobs[key] = j
			need = append(need, j)
			p, ok := gw.plugins[w.Name]
			if !ok {
				j.err = errors.New("not loaded (declared in config.yaml? config.yaml changes need a restart)")
				close(j.done)
				continue
			}
			route, conf := r.ID, []byte(w.Conf)
			go func() {
				defer close(j.done)
				f, err := p.NewFactory(ctx, route, conf)
				if errors.Is(err, host.ErrRejected) {
					// Already "route R: plugin P: " from where; say what
					// happened and where to look instead of repeating it.
					err = errConfRejected
				}
				if err != nil {
					j.err = err
					return
				}
				j.c = f
			}()
		}
	}
	return need
}

// collect moves finished jobs out of gw.jobs: successes become live
// resources (unreferenced until a generation acquires them), failures are
// returned by key. The caller holds gw.mu.
func (gw *Gateway) collect() map[string]error {
	var failed map[string]error
	for key, j := range gw.jobs {
		if !j.finished() {
			continue
		}
		delete(gw.jobs, key)
		if j.err != nil {
			if failed == nil {
				failed = make(map[string]error)
			}
			failed[key] = fmt.Errorf("%s: %w", j.where, j.err)
			continue
		}
		if gw.closed {
			j.c.Close()
			continue
		}
		gw.live[key] = &resource{key: key, c: j.c}
	}
	return failed
}

// sweep closes live resources no generation uses (configured for a reload
// that was then rejected, or superseded before installation). The caller
// holds gw.mu.
func (gw *Gateway) sweep() {
	for key, r := range gw.live {
		if r.refs == 0 {
			delete(gw.live, key)
			if err := r.c.Close(); err != nil {
				gw.log.Warn("releasing an unused plugin configuration or upstream", "err", err)
			}
		}
	}
}

// notReady returns why r cannot be built from live resources yet ("" when
// it can): a plugin still being configured, or one that rejected its
// configuration after the reload was accepted. The caller holds gw.mu.
func (gw *Gateway) notReady(r *config.Route) string {
	for _, w := range r.Wasm {
		key := factoryKey(w.Name, r.ID, w.Conf)
		if _, ok := gw.live[key]; ok {
			continue
		}
		if err, ok := gw.failed[key]; ok {
			return err.Error()
		}
		return "plugin " + w.Name + " is still being configured"
	}
	return ""
}

// carryOver keeps the current generation's version of r (acquiring its
// resources for g) or, for a new route, installs it answering 503 until its
// plugins are ready. The caller holds gw.mu.
func (gw *Gateway) carryOver(g *generation, r *config.Route, why string) *builtRoute {
	if gw.cur != nil {
		if old, ok := gw.cur.routes[r.ID]; ok {
			for _, res := range old.res {
				res.refs++
			}
			g.res = append(g.res, old.res...)
			gw.log.Warn("route keeps its previous configuration", "route", r.ID, "reason", why)
			return &builtRoute{entry: old.entry, res: old.res, placeholder: old.placeholder}
		}
	}
	gw.log.Warn("route answers 503 until its plugins are configured", "route", r.ID, "reason", why)
	return &builtRoute{entry: routeEntry(r, &proxy.Route{ID: r.ID, Name: r.Name, Observer: gw.routeObserver(r)}), placeholder: true}
}

// Apply builds the routes of s and swaps them in. Requests in flight finish
// on the generation they started with; its resources are released once they
// have. A plugin rejecting its configuration within the configure wait
// rejects the whole snapshot: nothing changes, the current routes keep
// serving. Routes whose plugins take longer are installed later, each when
// its plugins are ready (meanwhile they keep their previous version, or
// answer 503 when new), so a plugin doing network I/O in on_configure
// delays only its own route.
func (gw *Gateway) Apply(ctx context.Context, s *store.Snapshot) error {
	gw.mu.Lock()
	if gw.closed {
		gw.mu.Unlock()
		return errors.New("gateway closed")
	}
	clear(gw.failed)
	// proxy_http_call and proxy_redis_init from on_configure may name this
	// snapshot's upstream ids; restored when the snapshot is rejected.
	prevAddrs := gw.upstreams.Load()
	addrs := upstreamAddrs(s.Routes)
	gw.upstreams.Store(&addrs)
	gw.warnUnknownUpstreams(addrs, s.Routes)
	need := gw.startJobs(ctx, s.Routes)
	gw.mu.Unlock()

	timer := time.NewTimer(gw.configureWait)
	defer timer.Stop()
wait:
	for _, j := range need {
		select {
		case <-j.done:
		case <-timer.C:
			break wait
		}
	}

	gw.mu.Lock()
	defer gw.mu.Unlock()
	// Whatever happens to this snapshot, jobs still running are collected
	// (and their routes installed, or their result released) when done.
	for _, j := range need {
		if !j.finished() {
			gw.bg.Add(1)
			go func() {
				defer gw.bg.Done()
				<-j.done
				gw.refresh()
			}()
		}
	}
	failed := gw.collect()
	var errs []error
	for _, j := range need {
		if err, ok := failed[j.key]; ok {
			errs = append(errs, err)
			delete(failed, j.key)
		}
	}
	gw.remember(failed)
	if len(errs) == 0 {
		errs = append(errs, gw.install(s))
	}
	if err := errors.Join(errs...); err != nil {
		gw.upstreams.Store(prevAddrs)
		gw.sweep()
		return err
	}
	gw.log.Info("routes applied", "file", s.Routes.File, "version", s.Version, "routes", len(s.Routes.Routes), "stream_routes", len(s.Routes.StreamRoutes))
	return nil
}

// remember logs configurations rejected in the background and keeps them,
// so their routes stay on their previous version until the next snapshot.
// The caller holds gw.mu.
func (gw *Gateway) remember(failed map[string]error) {
	for key, err := range failed {
		gw.failed[key] = err
		gw.log.Error("plugin rejected its configuration; the route keeps its previous version (or 503)", "err", err)
	}
}

// refresh installs what background configuration finished, rebuilding the
// current snapshot. The caller does not hold gw.mu.
func (gw *Gateway) refresh() {
	gw.mu.Lock()
	defer gw.mu.Unlock()
	gw.remember(gw.collect())
	if gw.closed || gw.snap == nil {
		return
	}
	if err := gw.install(gw.snap); err != nil {
		gw.log.Error("installing routes after a plugin finished configuring", "err", err)
	}
	gw.sweep()
}

// install builds s and makes it the served generation, retiring the old
// one in the background. The caller holds gw.mu.
func (gw *Gateway) install(s *store.Snapshot) error {
	gen, err := gw.build(s.Routes, s.Version)
	if err != nil {
		return err
	}
	// The upstream-id map is Apply's: it was stored for s before its
	// plugins were configured (and restored if s was rejected). Storing it
	// here as well would let a background refresh of the served snapshot
	// overwrite the map an Apply in progress just stored.
	old := gw.cur
	gw.cur, gw.snap = gen, s
	gw.proxy.SetRoutes(gen.table)
	gw.stream.Update(s.Routes.StreamRoutes)
	if old != nil {
		gw.bg.Add(1)
		go func() {
			defer gw.bg.Done()
			// Waits for the requests still using old; no deadline: a
			// request ends by its own timeouts.
			if err := old.table.Retire(context.Background()); err != nil {
				gw.log.Warn("retiring routes", "version", old.version, "err", err)
			}
			if err := gw.releaseLocked(old); err != nil {
				gw.log.Warn("closing old routes", "version", old.version, "err", err)
			}
		}()
	}
	gw.sweep()
	return nil
}
