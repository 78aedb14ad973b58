// Package stream is Heimdall's L4 (TCP) proxy: the APISIX `stream_routes`
// served on `apisix.stream_proxy.tcp` listeners. A connection is matched
// to a stream route once, when it is accepted, then bytes are copied in
// both directions until both sides are done. internal/proxy stays about
// HTTP.
package stream

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heimdallgw/heimdall/internal/config"
)

// DefaultIdleTimeout closes a proxied connection when neither side has sent
// anything for this long (nginx stream's proxy_timeout default is 10m).
const DefaultIdleTimeout = 10 * time.Minute

// Proxy serves stream routes on any number of listeners. Its routes are
// replaced atomically by Update; connections keep the route they matched.
type Proxy struct {
	log         *slog.Logger
	idleTimeout time.Duration
	table       atomic.Pointer[table]

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	closing   bool
	wg        sync.WaitGroup
	nextID    atomic.Uint64
}

// New returns a Proxy without routes: connections are closed at once until
// Update installs some. idle <= 0 means DefaultIdleTimeout.
func New(log *slog.Logger, idle time.Duration) *Proxy {
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p := &Proxy{log: log, idleTimeout: idle, listeners: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{}}
	p.table.Store(&table{})
	return p
}

type table struct{ routes []*route }

type route struct {
	cfg *config.StreamRoute
	up  *upstream
}

// Update installs a new set of stream routes. Accepted connections are not
// affected; new ones are matched against routes.
func (p *Proxy) Update(routes []*config.StreamRoute) {
	t := &table{routes: make([]*route, 0, len(routes))}
	ups := map[*config.Upstream]*upstream{}
	for _, r := range routes {
		u := ups[r.Upstream]
		if u == nil {
			u = newUpstream(r.Upstream)
			ups[r.Upstream] = u
		}
		t.routes = append(t.routes, &route{cfg: r, up: u})
	}
	p.table.Store(t)
}

// match returns the first route, in declaration order, whose set fields all
// match: remote_addr, then server_addr and server_port (APISIX checks the
// same fields; an empty field matches anything).
func (t *table) match(local, remote netip.AddrPort) *route {
	for _, r := range t.routes {
		c := r.cfg
		if c.HasRemoteAddr && !c.RemoteAddr.Contains(remote.Addr().Unmap()) {
			continue
		}
		if c.ServerAddr != "" && c.ServerAddr != local.Addr().Unmap().String() {
			continue
		}
		if c.ServerPort != 0 && c.ServerPort != int(local.Port()) {
			continue
		}
		return r
	}
	return nil
}

// Serve accepts connections on ln until ln is closed or Shutdown is called.
// It returns nil after Shutdown.
func (p *Proxy) Serve(ln net.Listener) error {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		ln.Close()
		return nil
	}
	p.listeners[ln] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.listeners, ln)
		p.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			p.mu.Lock()
			closing := p.closing
			p.mu.Unlock()
			if closing || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// Temporary failures (EMFILE): back off as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			p.log.Warn("stream accept failed", "error", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !p.track(c, true) {
			c.Close()
			return nil
		}
		p.wg.Add(1)
		go p.handle(c)
	}
}

func (p *Proxy) track(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		if p.closing {
			return false
		}
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
	return true
}

// Shutdown stops accepting, then waits for proxied connections to finish
// until ctx is done, when it closes those left and returns ctx's error.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.closing = true
	for ln := range p.listeners {
		ln.Close()
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

func addrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

func (p *Proxy) handle(down net.Conn) {
	defer p.wg.Done()
	defer p.track(down, false)
	defer down.Close()
	id := p.nextID.Add(1)
	local, remote := addrPort(down.LocalAddr()), addrPort(down.RemoteAddr())
	r := p.table.Load().match(local, remote)
	if r == nil {
		p.log.Info("stream connection matched no stream route", "connection_id", id, "remote", remote.String(), "local", local.String())
		return
	}
	up, err := r.up.dial()
	if err != nil {
		p.log.Warn("stream upstream connect failed", "connection_id", id, "stream_route", r.cfg.ID, "error", err)
		return
	}
	if !p.track(up, true) {
		up.Close()
		return
	}
	defer p.track(up, false)
	defer up.Close()
	p.pipe(down, up)
}

// pipe copies both ways. When one side finishes sending (EOF), the write
// half of the other is closed (half-close) and the other direction goes on;
// an error or the idle timeout on either side ends both.
func (p *Proxy) pipe(down, up net.Conn) {
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	errc := make(chan error, 2)
	cp := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			src.SetReadDeadline(time.Now().Add(p.idleTimeout))
			n, err := src.Read(buf)
			if n > 0 {
				last.Store(time.Now().UnixNano())
				dst.SetWriteDeadline(time.Now().Add(p.idleTimeout))
				if _, werr := dst.Write(buf[:n]); werr != nil {
					errc <- werr
					return
				}
			}
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() && time.Since(time.Unix(0, last.Load())) < p.idleTimeout {
					continue // the other direction is active
				}
				if errors.Is(err, io.EOF) {
					if cw, ok := dst.(interface{ CloseWrite() error }); ok {
						cw.CloseWrite()
						errc <- nil
						return
					}
				}
				errc <- err
				return
			}
		}
	}
	go cp(up, down)
	go cp(down, up)
	if err := <-errc; err != nil {
		down.Close()
		up.Close()
	}
	<-errc
}

// upstream picks nodes by smooth weighted round robin. The HTTP proxy's
// balancers (internal/proxy) are bound to its pooled HTTP clients, so they
// are not shared; chash has no key here and falls back to round robin.
type upstream struct {
	cfg   *config.Upstream
	mu    sync.Mutex
	nodes []wnode
}

type wnode struct {
	addr           string
	weight, active int
}

func newUpstream(u *config.Upstream) *upstream {
	up := &upstream{cfg: u}
	for _, n := range u.Nodes {
		if n.Weight > 0 {
			up.nodes = append(up.nodes, wnode{addr: net.JoinHostPort(n.Host, strconv.Itoa(n.Port)), weight: n.Weight})
		}
	}
	return up
}

func (u *upstream) pick(tried map[string]bool) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	best, total := -1, 0
	for i := range u.nodes {
		n := &u.nodes[i]
		if tried[n.addr] {
			continue
		}
		n.active += n.weight
		total += n.weight
		if best < 0 || n.active > u.nodes[best].active {
			best = i
		}
	}
	if best < 0 {
		return ""
	}
	u.nodes[best].active -= total
	return u.nodes[best].addr
}

var errNoNode = errors.New("no upstream node with a weight above 0")

// dial connects to a node within the upstream's timeout.connect, trying
// up to retries other nodes on failure (default: all of them).
func (u *upstream) dial() (net.Conn, error) {
	timeout := u.cfg.Timeout.Connect
	if timeout <= 0 {
		timeout = config.DefaultTimeout
	}
	attempts := len(u.nodes)
	if u.cfg.Retries > 0 && u.cfg.Retries+1 < attempts {
		attempts = u.cfg.Retries + 1
	}
	tried := map[string]bool{}
	var err error = errNoNode
	for i := 0; i < attempts; i++ {
		addr := u.pick(tried)
		if addr == "" {
			break
		}
		tried[addr] = true
		var c net.Conn
		c, err = net.DialTimeout("tcp", addr, timeout)
		if err == nil {
			return c, nil
		}
	}
	return nil, err
}
