package sockets

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/heimdallgw/heimdall/internal/egress"
)

// FirstFD is the first socket descriptor. Descriptors below it belong to
// wazero (stdio, preopens, files) and are served by wazero's functions.
const FirstFD = 1 << 24

// maxNames bounds the per-instance table of resolved addresses.
const maxNames = 4096

// Options configure one plugin's Extension.
type Options struct {
	// Plugin names the plugin in log lines.
	Plugin string
	// Policy is the plugin's capability; the zero value denies everything.
	Policy Policy
	// Egress, when set, decides destinations and DNS: the plugin's one
	// outbound policy, shared with its other ways out (Redis, http_call).
	// Policy.Allow and Policy.DNS must then be empty (Policy keeps the
	// socket limits). Without it, New builds one from Policy.Allow,
	// Policy.DNS, Policy.Deadline, Reserved, Logger and Resolver.
	Egress *egress.Checker
	// Reserved are the gateway's own listeners (proxy, admin, metrics). A
	// plugin may reach them only through an allow entry naming the port
	// explicitly. An unspecified address means every address of this host.
	Reserved []netip.AddrPort
	// Logger receives refusals; nil discards them.
	Logger *slog.Logger
	// Resolver resolves names for sock_getaddrinfo; nil uses a zero
	// net.Resolver (the system's configuration).
	Resolver *net.Resolver
}

// limits are the socket limits of a Policy.
type limits struct {
	maxSockets int
	deadline   time.Duration
	maxBytes   int64
}

// Extension implements the WasmEdge socket functions for one plugin. It
// satisfies the plugin engine's Extension interface; all of its instances
// share the plugin's policy, each with its own descriptors.
type Extension struct {
	plugin   string
	policy   limits
	egress   *egress.Checker
	log      *slog.Logger
	resolver *net.Resolver
	// wasi holds wazero's own implementations of the functions Export
	// replaces, called for descriptors that are not sockets.
	wasi map[string]wasiFunc

	mu        sync.Mutex
	instances map[api.Module]*instance
}

// New builds the Extension of one plugin.
func New(ctx context.Context, opts Options) (*Extension, error) {
	p := opts.Policy
	if p.MaxSockets < 0 || p.Deadline < 0 || p.MaxBytes < 0 {
		return nil, fmt.Errorf("plugin %q: network policy: negative limit", opts.Plugin)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	res := opts.Resolver
	if res == nil {
		res = &net.Resolver{}
	}
	eg := opts.Egress
	switch {
	case eg != nil && (len(p.Allow) > 0 || p.DNS):
		return nil, fmt.Errorf("plugin %q: network policy: both Egress and Policy.Allow/DNS given", opts.Plugin)
	case eg == nil:
		var err error
		eg, err = egress.New(egress.Config{
			Plugin: opts.Plugin, Allow: p.Allow, DNS: p.DNS, LookupTimeout: p.Deadline,
			Reserved: opts.Reserved, Resolver: res, Logger: log,
		})
		if err != nil {
			return nil, fmt.Errorf("plugin %q: network policy: %w", opts.Plugin, err)
		}
	}
	wasi, err := wazeroWASI(ctx)
	if err != nil {
		return nil, fmt.Errorf("plugin %q: %w", opts.Plugin, err)
	}
	return &Extension{
		plugin:    opts.Plugin,
		policy:    limits{maxSockets: p.MaxSockets, deadline: p.Deadline, maxBytes: p.MaxBytes},
		egress:    eg,
		log:       log,
		resolver:  res,
		wasi:      wasi,
		instances: map[api.Module]*instance{},
	}, nil
}

// wazeroWASI returns wazero's WASI functions as Go functions that can be
// called with any guest module. They are taken from a host module compiled
// in a throwaway runtime: the functions keep no state of their own (they
// reach the guest's files through the module they are called with).
func wazeroWASI(ctx context.Context) (map[string]wasiFunc, error) {
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	b := rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	cm, err := b.Compile(ctx)
	if err != nil {
		return nil, fmt.Errorf("compiling wazero wasi functions: %w", err)
	}
	out := map[string]wasiFunc{}
	for name, def := range cm.ExportedFunctions() {
		if f, ok := def.GoFunction().(api.GoModuleFunction); ok {
			out[name] = wasiFunc{fn: f, params: len(def.ParamTypes())}
		}
	}
	for _, name := range []string{"fd_read", "fd_write", "fd_close", "fd_fdstat_get", "fd_fdstat_set_flags", "poll_oneoff"} {
		if out[name].fn == nil {
			return nil, fmt.Errorf("wazero wasi function %s not found", name)
		}
	}
	return out, nil
}

// wasiFunc is one of wazero's WASI functions.
type wasiFunc struct {
	fn     api.GoModuleFunction
	params int
}

// instance is the socket state of one guest instance.
type instance struct {
	ext    *Extension
	ctx    context.Context // ends when the instance is closed
	cancel context.CancelFunc

	mu    sync.Mutex
	socks map[uint32]*socket
	next  uint32
	names map[netip.Addr][]string // addresses the guest resolved, by name
}

func (e *Extension) instance(mod api.Module) *instance {
	e.mu.Lock()
	defer e.mu.Unlock()
	in := e.instances[mod]
	if in == nil {
		ctx, cancel := context.WithCancel(context.Background())
		in = &instance{ext: e, ctx: ctx, cancel: cancel, socks: map[uint32]*socket{}, next: FirstFD, names: map[netip.Addr][]string{}}
		e.instances[mod] = in
	}
	return in
}

// InstanceClosed closes the sockets of an instance that is being discarded.
func (e *Extension) InstanceClosed(mod api.Module) {
	e.mu.Lock()
	in := e.instances[mod]
	delete(e.instances, mod)
	e.mu.Unlock()
	if in == nil {
		return
	}
	in.cancel()
	in.mu.Lock()
	socks := in.socks
	in.socks = map[uint32]*socket{}
	in.mu.Unlock()
	for _, s := range socks {
		s.close()
	}
}

// OpenSockets reports how many sockets an instance holds (for tests and
// metrics).
func (e *Extension) OpenSockets(mod api.Module) int {
	e.mu.Lock()
	in := e.instances[mod]
	e.mu.Unlock()
	if in == nil {
		return 0
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.socks)
}

// add registers a socket, enforcing MaxSockets.
func (in *instance) add(s *socket) (uint32, errno) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if max := in.ext.policy.maxSockets; max > 0 && len(in.socks) >= max {
		return 0, errnoMfile
	}
	for {
		fd := in.next
		in.next++
		if in.next == 0 || in.next >= 1<<31 {
			in.next = FirstFD
		}
		if _, used := in.socks[fd]; !used {
			in.socks[fd] = s
			return fd, errnoSuccess
		}
	}
}

func (in *instance) get(fd uint32) *socket {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.socks[fd]
}

func (in *instance) remove(fd uint32) *socket {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.socks[fd]
	delete(in.socks, fd)
	return s
}

// remember records that name resolved to a.
func (in *instance) remember(name string, a netip.Addr) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.names) >= maxNames {
		clear(in.names)
	}
	for _, n := range in.names[a] {
		if n == name {
			return
		}
	}
	in.names[a] = append(in.names[a], name)
}

func (in *instance) namesOf(a netip.Addr) []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.names[a]
}

// allow checks a destination and logs a refusal.
func (in *instance) allow(op string, ap netip.AddrPort) bool {
	a := ap.Addr().Unmap()
	ok, reason := in.ext.egress.Check(a, ap.Port(), in.namesOf(a))
	if !ok {
		_ = in.ext.egress.Refuse(op, netip.AddrPortFrom(a, ap.Port()).String(), reason)
	}
	return ok
}

// refused logs a refusal by a socket limit (not by the destination policy,
// which Egress logs and counts).
func (e *Extension) refused(op, dest, reason string) {
	e.log.Warn("plugin network access refused", "plugin", e.plugin, "op", op, "destination", dest, "reason", reason)
}

// deadlineExceeded is the refusal reason when the policy deadline passes.
func (e *Extension) deadlineExceeded() string {
	return "deadline " + e.policy.deadline.String() + " exceeded"
}
