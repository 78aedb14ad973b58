// Package gateway is Heimdall's composition root: it loads the wasm plugins
// declared in config.yaml, builds route tables from apisix.yaml snapshots,
// swaps them into the proxy on reload, and runs the listeners.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/egress"
	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/metrics"
	"github.com/heimdallgw/heimdall/internal/proxy"
	"github.com/heimdallgw/heimdall/internal/store"
	"github.com/heimdallgw/heimdall/internal/stream"
	"github.com/heimdallgw/heimdall/internal/wasm/engine"
	"github.com/heimdallgw/heimdall/internal/wasm/host"
	"github.com/heimdallgw/heimdall/internal/wasm/sockets"
)

// Gateway owns the plugins, the proxy and the current route generation.
type Gateway struct {
	main  *config.Main
	log   *slog.Logger
	proxy *proxy.Proxy
	// stream serves stream_routes on apisix.stream_proxy.tcp listeners.
	stream *stream.Proxy
	// metrics is nil when the export server is off (metrics.go).
	metrics *metrics.Metrics

	cache   *engine.Cache
	shared  *host.Shared
	plugins map[string]*host.Plugin
	// upstreams maps apisix.yaml upstream ids to a node address for
	// proxy_http_call; replaced on every Apply.
	upstreams atomic.Pointer[map[string]string]

	// configureWait bounds how long Apply waits for on_configure.
	configureWait time.Duration

	// mu guards the fields below; cur is the generation being served, snap
	// the snapshot it was built from.
	mu     sync.Mutex
	cur    *generation
	snap   *store.Snapshot
	closed bool
	// live holds the plugin configurations and upstreams some generation
	// uses (or is about to), by key (see resource).
	live map[string]*resource
	// jobs are plugin configurations being made in the background; failed
	// those rejected after their snapshot was applied (until the next one).
	jobs   map[string]*job
	failed map[string]error
	// bg tracks retiring generations and job watchers.
	bg sync.WaitGroup
}

// New loads every wasm plugin of m and returns a Gateway with no routes
// (every request answers 404) until Apply installs some.
func New(ctx context.Context, m *config.Main, logs *Logs) (_ *Gateway, err error) {
	gw := &Gateway{
		main:    m,
		log:     logs.Error,
		plugins: make(map[string]*host.Plugin),
		shared:  host.NewShared(),
		live:    make(map[string]*resource),
		jobs:    make(map[string]*job),
		failed:  make(map[string]error),

		configureWait: DefaultConfigureWait,
	}
	defer func() {
		if err != nil {
			gw.closePlugins(context.WithoutCancel(ctx))
		}
	}()
	po := proxy.Options{
		AccessLog: logs.Access,
		ErrorLog:  logs.Error,
		Chain:     chainOptions(m, logs.Error),
	}
	if gw.metrics = newMetrics(m); gw.metrics != nil {
		po.Observer = gw.metrics.Unmatched()
	}
	gw.proxy = proxy.New(po)
	gw.stream = stream.New(logs.Error, 0)
	switch dir := m.Heimdall.WasmCacheDir; dir {
	case config.WasmCacheOff:
		gw.cache = engine.NewMemoryCache()
	default:
		// "" is the default directory under the user's cache dir.
		if gw.cache, err = engine.NewCache(dir); err != nil {
			if dir != "" {
				return nil, fmt.Errorf("%s: heimdall.wasm_cache_dir: %w", m.File, err)
			}
			gw.log.Warn("no compilation cache directory; compiling plugins in memory (set heimdall.wasm_cache_dir)", "err", err)
			gw.cache = engine.NewMemoryCache()
		}
	}
	reserved := gw.reservedPorts()
	for i := range m.Wasm.Plugins {
		wp := &m.Wasm.Plugins[i]
		if err := gw.loadPlugin(ctx, wp, reserved); err != nil {
			return nil, fmt.Errorf("%s:%d:%d: wasm.plugins[%d] %s: %w", m.File, wp.Line, wp.Column, i, wp.Name, err)
		}
	}
	if gw.metrics != nil {
		ps := make([]metrics.Plugin, 0, len(m.Wasm.Plugins))
		for _, wp := range m.Wasm.Plugins {
			ps = append(ps, gw.plugins[wp.Name])
		}
		gw.metrics.SetPlugins(ps)
	}
	return gw, nil
}

func (gw *Gateway) loadPlugin(ctx context.Context, wp *config.WasmPlugin, reserved []netip.AddrPort) error {
	log := gw.log
	pc := host.PluginConfig{
		Name:     wp.Name,
		File:     wp.File,
		Priority: wp.Priority,
		PoolSize: wp.PoolSize,
		BodyMode: host.BodyMode(wp.Body),
		// call_timeout 0: no deadline, no termination checks (trusted).
		CallTimeout:     wp.CallTimeout,
		Uninterruptible: wp.CallTimeout == 0,
		Cache:           gw.cache,
		// One store for shared data and queues, so plugins sharing a vm_id
		// share state as in Envoy.
		Shared:    gw.shared,
		Upstreams: gw.upstreamAddr,

		// Failure handling and limits.
		FailurePolicy:    host.FailurePolicy(wp.FailurePolicy),
		MemoryLimitPages: uint32((wp.MemoryLimit + 1<<16 - 1) >> 16),
		MemoryBudget:     uint64(wp.MemoryBudget),
		RecycleBytes:     uint64(wp.MemoryRecycle),
		Limits: host.Limits{
			SharedDataBytes: wp.MaxSharedDataBytes,
			SharedDataKeys:  wp.MaxSharedDataKeys,
			QueueDepth:      wp.MaxQueueDepth,
			LogLine:         int(wp.MaxLogLine),
			BodyBuffer:      int(wp.BodyBufferLimit),
		},
		Backoff:  engine.Backoff{Base: wp.RestartBackoff, Max: wp.RestartBackoffMax, Rate: wp.RestartRate},
		VMConfig: []byte(wp.VMConfig),
	}
	// One outbound policy per plugin, for every way out: the socket
	// functions, the Redis ABI and proxy_http_call. Without a network
	// section it refuses every literal destination; named upstreams stay
	// allowed unless network.upstreams narrows them.
	ec := egress.FromConfig(wp.Name, wp.Network)
	ec.Reserved, ec.Logger = reserved, log
	eg, err := egress.New(ec)
	if err != nil {
		return fmt.Errorf("network policy: %w", err)
	}
	pc.Egress = eg
	if wp.Network != nil {
		pc.MaxPendingHTTPCalls = wp.Network.MaxPendingHTTPCalls
	}
	// Every plugin gets the socket functions, so plugins that import them
	// load.
	ext, err := sockets.New(ctx, sockets.Options{
		Plugin: wp.Name,
		Policy: sockets.LimitsFromConfig(wp.Network),
		Egress: eg,
		Logger: log,
	})
	if err != nil {
		return err
	}
	pc.Extensions = append(pc.Extensions, ext)
	if _, err := os.Stat(wp.File); err != nil {
		return fmt.Errorf("cannot read the plugin file %s (wrong path, or not built yet? `make plugins` builds the bundled ones): %w", wp.File, err)
	}
	p, err := host.Load(ctx, pc, log)
	if err != nil {
		return fmt.Errorf("plugin file %s: %w", wp.File, err)
	}
	gw.plugins[wp.Name] = p
	return nil
}

// reservedPorts are the gateway's own listeners, which plugins may only
// reach through an explicit allow entry.
func (gw *Gateway) reservedPorts() []netip.AddrPort {
	var out []netip.AddrPort
	add := func(ls []config.Listen) {
		for _, l := range ls {
			a := netip.IPv4Unspecified()
			if l.IP != "" {
				if p, err := netip.ParseAddr(l.IP); err == nil {
					a = p
				}
			}
			out = append(out, netip.AddrPortFrom(a, uint16(l.Port)))
		}
	}
	add(gw.main.APISIX.NodeListen)
	if gw.main.APISIX.SSL.Enable {
		add(gw.main.APISIX.SSL.Listen)
	}
	if pr := gw.main.PluginAttr.Prometheus; pr.EnableExportServer {
		add([]config.Listen{pr.ExportAddr})
	}
	if st := gw.main.APISIX.Status; st.Enable {
		add([]config.Listen{st.Listen})
	}
	if gw.main.Deployment.HasAdmin() { // a plugin must never reach the Admin API
		add([]config.Listen{gw.main.Deployment.Admin.Listen})
	}
	return out
}

func chainOptions(m *config.Main, log *slog.Logger) (o filter.Options) {
	o.BufferLimit = int(m.Heimdall.BodyBufferLimit)
	o.Log = log
	return o
}

// upstreamAddr resolves a proxy_http_call upstream name: an apisix.yaml
// upstream id answers with its first node of positive weight.
func (gw *Gateway) upstreamAddr(name string) (string, bool) {
	m := gw.upstreams.Load()
	if m == nil {
		return "", false
	}
	a, ok := (*m)[name]
	return a, ok
}

// warnUnknownUpstreams logs the network.upstreams entries of config.yaml
// that name no upstream of the routes being applied: config.yaml is loaded
// before any apisix.yaml, so an id cannot be checked at load; a missing one
// only refuses calls (it may be added by a later apisix.yaml).
func (gw *Gateway) warnUnknownUpstreams(addrs map[string]string, r *config.Routes) {
	for i := range gw.main.Wasm.Plugins {
		wp := &gw.main.Wasm.Plugins[i]
		if wp.Network == nil {
			continue
		}
		for _, id := range wp.Network.Upstreams {
			if _, ok := addrs[id]; !ok {
				gw.log.Warn("wasm plugin network.upstreams names an upstream apisix.yaml does not define (calls to it fail as to an unknown upstream)",
					"plugin", wp.Name, "upstream", id, "config", fmt.Sprintf("%s:%d:%d", gw.main.File, wp.Line, wp.Column), "routes", r.File)
			}
		}
	}
}

func upstreamAddrs(r *config.Routes) map[string]string {
	out := make(map[string]string, len(r.Upstreams))
	for _, u := range r.Upstreams {
		for _, n := range u.Nodes {
			if n.Weight > 0 {
				out[u.ID] = net.JoinHostPort(n.Host, strconv.Itoa(n.Port))
				break
			}
		}
	}
	return out
}

// PluginStats returns the failure counters of every wasm plugin, by name
// (see host.Stats): traps, instance replacements, runaway-call kills,
// memory recycles, refused streams.
func (gw *Gateway) PluginStats() map[string]host.Stats {
	out := make(map[string]host.Stats, len(gw.plugins))
	for name, p := range gw.plugins {
		out[name] = p.Stats()
	}
	return out
}

// Proxy is the request handler the listeners serve.
func (gw *Gateway) Proxy() *proxy.Proxy { return gw.proxy }

// releaseLocked is release for a generation no Apply is building.
func (gw *Gateway) releaseLocked(g *generation) error {
	gw.mu.Lock()
	defer gw.mu.Unlock()
	return gw.release(g)
}

// Close releases everything once the listeners have stopped: the current
// routes (after their requests finished), retired ones, background
// configuration, and the plugins.
func (gw *Gateway) Close(ctx context.Context) error {
	gw.mu.Lock()
	cur := gw.cur
	gw.cur, gw.snap, gw.closed = nil, nil, true
	gw.mu.Unlock()
	var errs []error
	if cur != nil {
		if err := cur.table.Retire(ctx); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, gw.releaseLocked(cur))
	}
	// Closing the plugins ends on_configure calls still running (their
	// context is the plugin's), so the job watchers can finish.
	errs = append(errs, gw.closePlugins(ctx))
	gw.bg.Wait()
	gw.mu.Lock()
	gw.collect() // closes what finished after closed was set
	gw.sweep()
	gw.mu.Unlock()
	return errors.Join(errs...)
}

func (gw *Gateway) closePlugins(ctx context.Context) error {
	var errs []error
	for name, p := range gw.plugins {
		if err := p.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("plugin %s: %w", name, err))
		}
		delete(gw.plugins, name)
	}
	return errors.Join(errs...)
}
