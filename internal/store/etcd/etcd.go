// Package etcd is the cluster-mode configuration provider: it loads every
// APISIX object under the etcd prefix, validates each one with package
// config (the checks and messages of apisix.yaml, the etcd key in place of
// file:line), and delivers store.Snapshots like the file provider: Load
// once, then Run watches from the loaded revision + 1.
//
// Objects are validated one by one: an invalid value is logged with its key
// and the problem and leaves that key's last valid version (if any) in
// service; every other object is unaffected. A watch cancelled by
// compaction, or a revision lower than the one already seen (etcd restored
// from a backup), triggers a full reload. While etcd is unreachable the
// last configuration keeps serving; the provider reconnects with backoff
// and jitter, logs each change of reachability once, and reports it through
// Reachable and LastContact.
package etcd

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/store"
)

// Defaults for Options.
const (
	DefaultHealthInterval = 2 * time.Second
	DefaultMinBackoff     = 200 * time.Millisecond
	DefaultMaxBackoff     = 5 * time.Second
	// healthTimeout bounds one health check (at most deployment.etcd.timeout).
	healthTimeout = 3 * time.Second
)

// Options configures a Provider.
type Options struct {
	// Logger receives load results, rejected objects and reachability
	// changes; nil discards.
	Logger *slog.Logger
	// OnChange is called with every new snapshot Run builds, from Run's
	// goroutine; Run waits for it before handling the next change.
	OnChange func(*store.Snapshot)
	// HealthInterval is how often etcd is probed while reachable; default
	// DefaultHealthInterval.
	HealthInterval time.Duration
	// MinBackoff and MaxBackoff bound the pause between reconnection
	// attempts (doubling, with ±20% jitter); defaults DefaultMinBackoff and
	// DefaultMaxBackoff. The pause between start-up attempts starts at 1s.
	MinBackoff, MaxBackoff time.Duration
	// StartupBackoff is the first pause between start-up attempts (default
	// 1s), doubling each time.
	StartupBackoff time.Duration
}

// Provider watches one etcd prefix. Create it with New, call Load once,
// then Run in one goroutine; Close releases the client.
type Provider struct {
	main   *config.Main
	cfg    config.Etcd
	dir    string // prefix + "/"
	source string // "etcd:<prefix>", Routes.File of the snapshots
	cli    *clientv3.Client
	log    *slog.Logger
	opts   Options

	current   atomic.Pointer[store.Snapshot]
	cache     atomic.Pointer[map[string][]Object] // by kind
	reachable atomic.Bool
	contact   atomic.Int64 // unix nanoseconds of the last successful exchange

	// Owned by Load and then by Run's goroutine.
	rev       atomic.Int64      // highest revision applied (read by health)
	objects   map[string]*entry // by etcd key: last valid version
	linkErrs  map[string]string // route key → problem last logged by build
	version   uint64
	changed   bool // objects changed since the last snapshot
	reloadReq chan string

	closeOnce sync.Once
}

// entry is the last valid version of one object.
type entry struct {
	kind, id string
	value    []byte
	rev      int64 // ModRevision
	created  int64 // CreateRevision
	route    *config.Route
	upstream *config.Upstream
	service  *config.Service
	pc       *config.PluginConfig
}

// New creates the etcd client for m.Deployment.Etcd. It does not connect:
// Load does, and reports an unreachable etcd.
func New(m *config.Main, opts Options) (*Provider, error) {
	e := m.Deployment.Etcd
	cc := clientv3.Config{
		Endpoints:            e.Host,
		Username:             e.User,
		Password:             e.Password,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		PermitWithoutStream:  true,
		Logger:               zap.NewNop(),
	}
	if slices.ContainsFunc(e.Host, func(h string) bool { return strings.HasPrefix(h, "https://") }) {
		tc, err := tlsConfig(m)
		if err != nil {
			return nil, fmt.Errorf("%s: deployment.etcd.tls: %w", m.File, err)
		}
		cc.TLS = tc
	}
	cli, err := clientv3.New(cc)
	if err != nil {
		return nil, fmt.Errorf("%s: deployment.etcd: %w", m.File, err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HealthInterval <= 0 {
		opts.HealthInterval = DefaultHealthInterval
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(DefaultMaxBackoff, opts.MinBackoff)
	}
	if opts.StartupBackoff <= 0 {
		opts.StartupBackoff = time.Second
	}
	return &Provider{
		main:      m,
		cfg:       e,
		dir:       e.Prefix + "/",
		source:    "etcd:" + e.Prefix,
		cli:       cli,
		log:       opts.Logger.With("etcd", strings.Join(e.Host, ",")),
		opts:      opts,
		objects:   map[string]*entry{},
		linkErrs:  map[string]string{},
		reloadReq: make(chan string, 1),
	}, nil
}

func tlsConfig(m *config.Main) (*tls.Config, error) {
	t := m.Deployment.Etcd.TLS
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.SNI,
		InsecureSkipVerify: !t.Verify, //nolint:gosec // deployment.etcd.tls.verify: false, the operator's choice
	}
	if t.Cert != "" {
		c, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{c}
	}
	if ca := m.APISIX.SSL.TrustedCertificate; ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("apisix.ssl.ssl_trusted_certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("apisix.ssl.ssl_trusted_certificate %s: no PEM certificate in it", ca)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// Client is the etcd client, shared with the Admin API.
func (p *Provider) Client() *clientv3.Client { return p.cli }

// Prefix is deployment.etcd.prefix.
func (p *Provider) Prefix() string { return p.cfg.Prefix }

// Current returns the snapshot in use, or nil before Load succeeded.
func (p *Provider) Current() *store.Snapshot { return p.current.Load() }

// Reachable reports whether the last exchange with etcd succeeded.
func (p *Provider) Reachable() bool { return p.reachable.Load() }

// LastContact is when etcd last answered (a watch event or a health
// check); zero before the first contact. time.Since(LastContact()) is how
// stale the configuration may be.
func (p *Provider) LastContact() time.Time {
	n := p.contact.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Object is the last valid version of one object, as read from etcd.
type Object struct {
	Key                         string
	Value                       []byte // JSON as stored
	CreateRevision, ModRevision int64
}

// Objects returns the valid objects of one kind in use (oldest first), for
// reads while etcd is unreachable. Safe from any goroutine; the slices are
// never modified.
func (p *Provider) Objects(kind string) []Object {
	c := p.cache.Load()
	if c == nil {
		return nil
	}
	return (*c)[kind]
}

// Close releases the etcd client. Run must have returned.
func (p *Provider) Close() error {
	var err error
	p.closeOnce.Do(func() { err = p.cli.Close() })
	return err
}

// Load reads every object under the prefix and makes the valid ones the
// current snapshot. When etcd cannot be reached it tries
// deployment.etcd.startup_retry more times, pausing 1s, 2s, 4s, ...
// between attempts, then fails saying what to do. Invalid objects are
// logged and left out; they do not fail the start-up (another writer's
// mistake must not keep a node down). OnChange is not called.
func (p *Provider) Load(ctx context.Context) (*store.Snapshot, error) {
	attempts := p.cfg.StartupRetry + 1
	pause := p.opts.StartupBackoff
	var err error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			p.log.Warn("etcd not reachable at start-up; retrying", "attempt", i+1, "of", attempts, "in", pause.String(), "err", err)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(pause):
			}
			pause *= 2
		}
		if err = p.reload(ctx); err == nil {
			return p.current.Load(), nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return nil, fmt.Errorf("%s: deployment.etcd: cannot load the configuration from etcd at %s after %d attempt(s): %w; start etcd or fix deployment.etcd.host (raise deployment.etcd.startup_retry to wait longer at start-up)",
		p.main.File, strings.Join(p.cfg.Host, ", "), attempts, err)
}

// reload replaces the objects with everything under the prefix now. For a
// key whose new value is invalid, the last valid version stays.
func (p *Provider) reload(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	resp, err := p.cli.Get(rctx, p.dir, clientv3.WithPrefix())
	if err != nil {
		p.setReachable(false, err)
		return err
	}
	p.setReachable(true, nil)
	old := p.objects
	p.objects = make(map[string]*entry, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		key := string(kv.Key)
		if prev, ok := old[key]; ok && prev.rev == kv.ModRevision && string(prev.value) == string(kv.Value) {
			p.objects[key] = prev
			continue
		}
		prev := old[key]
		if e := p.parse(key, kv.Value, kv.ModRevision, kv.CreateRevision, prev); e != nil {
			p.objects[key] = e
		} else if prev != nil {
			p.objects[key] = prev
		}
	}
	p.rev.Store(resp.Header.Revision)
	p.changed = true
	s := p.build()
	p.log.Info("configuration loaded from etcd", "prefix", p.cfg.Prefix, "revision", p.rev.Load(), "version", s.Version,
		"routes", len(s.Routes.Routes), "upstreams", len(s.Routes.Upstreams))
	return nil
}

// parse validates one value. It returns nil (after logging why) when the
// object cannot be applied; keys that are not objects of a known kind are
// skipped quietly.
func (p *Provider) parse(key string, value []byte, rev, created int64, prev *entry) *entry {
	kind, id, ok := p.split(key)
	if !ok {
		return nil
	}
	e := &entry{kind: kind, id: id, value: value, rev: rev, created: created}
	var err error
	switch kind {
	case config.KindRoutes:
		e.route, err = config.ParseRouteObject(key, id, value, p.main)
	case config.KindUpstreams:
		e.upstream, err = config.ParseUpstreamObject(key, id, value)
	case config.KindServices:
		e.service, err = config.ParseServiceObject(key, id, value, p.main)
	case config.KindPluginConfigs:
		e.pc, err = config.ParsePluginConfigObject(key, id, value, p.main)
	default:
		if slices.Contains(config.UnsupportedKinds, kind) {
			p.log.Warn("etcd object not applied: Heimdall cannot apply this kind yet", "key", key, "revision", rev, "kind", kind,
				"supported", strings.Join(config.SupportedKinds, ", "))
		} else {
			p.log.Debug("etcd key ignored (not an object kind Heimdall reads)", "key", key)
		}
		return nil
	}
	if err != nil {
		var errs config.Errors
		if !errors.As(err, &errs) {
			errs = config.Errors{{File: key, Msg: err.Error()}}
		}
		kept := "none; the object is not served"
		if prev != nil {
			kept = fmt.Sprintf("revision %d keeps serving", prev.rev)
		}
		for _, ce := range errs {
			p.log.Error("invalid etcd object rejected", "key", key, "revision", rev, "error", ce.Error(), "last_valid", kept)
		}
		return nil
	}
	return e
}

// split turns prefix/kind/id into kind and id; directory markers
// (prefix/kind) and deeper keys are not objects.
func (p *Provider) split(key string) (kind, id string, ok bool) {
	rest, found := strings.CutPrefix(key, p.dir)
	if !found {
		return "", "", false
	}
	kind, id, found = strings.Cut(rest, "/")
	if !found || id == "" || strings.Contains(id, "/") {
		return "", "", false
	}
	return kind, id, true
}

// build assembles the valid objects into a snapshot and makes it current.
func (p *Provider) build() *store.Snapshot {
	keys := make([]string, 0, len(p.objects))
	for k := range p.objects {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var (
		objs    config.Objects
		sources = map[string]string{}
		h       = sha256.New()
		cache   = map[string][]Object{}
	)
	for _, k := range keys {
		e := p.objects[k]
		fmt.Fprintf(h, "%s\x00%d\x00", k, e.rev)
		cache[e.kind] = append(cache[e.kind], Object{Key: k, Value: e.value, CreateRevision: e.created, ModRevision: e.rev})
		switch {
		case e.route != nil:
			objs.Routes = append(objs.Routes, e.route)
			sources[e.route.ID] = k
		case e.upstream != nil:
			objs.Upstreams = append(objs.Upstreams, e.upstream)
		case e.service != nil:
			objs.Services = append(objs.Services, e.service)
		case e.pc != nil:
			objs.PluginConfigs = append(objs.PluginConfigs, e.pc)
		}
	}
	r, errs := config.Link(p.source, objs, sources)
	seen := map[string]bool{}
	for _, e := range errs {
		seen[e.File] = true
		if p.linkErrs[e.File] != e.Msg {
			p.log.Error("etcd route not served", "key", e.File, "error", e.Error())
			p.linkErrs[e.File] = e.Msg
		}
	}
	for k := range p.linkErrs {
		if !seen[k] {
			delete(p.linkErrs, k)
		}
	}
	for _, objs := range cache {
		slices.SortStableFunc(objs, func(a, b Object) int { return int(a.CreateRevision - b.CreateRevision) })
	}
	p.cache.Store(&cache)
	p.version++
	s := &store.Snapshot{Main: p.main, Routes: r, Version: p.version}
	h.Sum(s.Hash[:0])
	p.current.Store(s)
	p.changed = false
	return s
}

func (p *Provider) setReachable(ok bool, err error) {
	if ok {
		p.contact.Store(time.Now().UnixNano())
	}
	if p.reachable.Swap(ok) == ok {
		return
	}
	if ok {
		p.log.Info("etcd reachable", "revision", p.rev.Load())
	} else {
		p.log.Error("etcd unreachable; the last configuration keeps serving", "revision", p.rev.Load(), "err", err)
	}
}

// Run watches the prefix until ctx is done, delivering each new snapshot
// to OnChange, and returns nil then. Load must have succeeded.
func (p *Provider) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); p.health(ctx) }()
	defer wg.Wait()

	backoff := p.opts.MinBackoff
	for ctx.Err() == nil {
		reason, err := p.watch(ctx)
		if ctx.Err() != nil {
			break
		}
		if reason != "" {
			p.log.Warn("full reload from etcd", "reason", reason, "revision", p.rev.Load())
			if err := p.reload(ctx); err == nil {
				p.deliver(p.current.Load())
				backoff = p.opts.MinBackoff
				continue
			} else {
				p.log.Debug("full reload failed; retrying", "err", err)
			}
		} else if err != nil {
			p.log.Debug("etcd watch ended; restarting it", "err", err)
		}
		if !sleep(ctx, jitter(backoff)) {
			break
		}
		if reason != "" {
			// The reload is still needed: ask again.
			select {
			case p.reloadReq <- reason:
			default:
			}
		}
		backoff = min(backoff*2, p.opts.MaxBackoff)
	}
	return nil
}

// watch follows the prefix from rev+1. It returns a reason when a full
// reload is needed, else the error that ended the watch.
func (p *Provider) watch(ctx context.Context) (string, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := p.cli.Watch(clientv3.WithRequireLeader(wctx), p.dir, clientv3.WithPrefix(), clientv3.WithRev(p.rev.Load()+1), clientv3.WithProgressNotify())
	for {
		select {
		case <-ctx.Done():
			return "", nil
		case reason := <-p.reloadReq:
			return reason, nil
		case wr, ok := <-wch:
			if !ok {
				return "", errors.New("watch channel closed")
			}
			if wr.CompactRevision != 0 || errors.Is(wr.Err(), rpctypes.ErrCompacted) {
				return fmt.Sprintf("watch compacted at revision %d (watching from %d)", wr.CompactRevision, p.rev.Load()+1), nil
			}
			if err := wr.Err(); err != nil {
				return "", err
			}
			p.setReachable(true, nil)
			if wr.Header.Revision != 0 && wr.Header.Revision < p.rev.Load() {
				return fmt.Sprintf("etcd revision went back from %d to %d (restored from a backup?)", p.rev.Load(), wr.Header.Revision), nil
			}
			p.apply(wr.Events)
		}
	}
}

// apply handles one batch of watch events and delivers a new snapshot if
// any object changed.
func (p *Provider) apply(events []*clientv3.Event) {
	for _, ev := range events {
		kv := ev.Kv
		if kv.ModRevision <= p.rev.Load() && ev.Type == mvccpb.PUT {
			continue // already seen (a watch resumed after a reconnect)
		}
		key := string(kv.Key)
		switch ev.Type {
		case mvccpb.DELETE:
			if _, ok := p.objects[key]; ok {
				delete(p.objects, key)
				p.changed = true
			}
		case mvccpb.PUT:
			if e := p.parse(key, kv.Value, kv.ModRevision, kv.CreateRevision, p.objects[key]); e != nil {
				p.objects[key] = e
				p.changed = true
			}
		}
		p.rev.Store(max(p.rev.Load(), kv.ModRevision))
	}
	if p.changed {
		s := p.build()
		p.log.Info("configuration changed in etcd", "revision", p.rev.Load(), "version", s.Version,
			"routes", len(s.Routes.Routes), "upstreams", len(s.Routes.Upstreams))
		p.deliver(s)
	}
}

func (p *Provider) deliver(s *store.Snapshot) {
	if p.opts.OnChange != nil && s != nil {
		p.opts.OnChange(s)
	}
}

// health probes etcd: it keeps Reachable and LastContact current, and asks
// the watch loop for a full reload when etcd's revision is below the one
// already applied (a restore from a backup). Probes are spaced by
// HealthInterval while etcd answers, by a growing jittered backoff while
// it does not.
func (p *Provider) health(ctx context.Context) {
	wait := p.opts.HealthInterval
	for sleep(ctx, wait) {
		hctx, cancel := context.WithTimeout(ctx, min(healthTimeout, p.cfg.Timeout))
		resp, err := p.cli.Get(hctx, p.dir+"\x00health", clientv3.WithCountOnly())
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			p.setReachable(false, err)
			if wait >= p.opts.HealthInterval {
				wait = p.opts.MinBackoff
			} else {
				wait = min(wait*2, p.opts.HealthInterval)
			}
			wait = jitter(wait)
			continue
		}
		p.setReachable(true, nil)
		wait = p.opts.HealthInterval
		if rev := resp.Header.Revision; rev < p.rev.Load() {
			select {
			case p.reloadReq <- fmt.Sprintf("etcd revision %d is below the applied %d (restored from a backup?)", rev, p.rev.Load()):
			default:
			}
		}
	}
}

func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
