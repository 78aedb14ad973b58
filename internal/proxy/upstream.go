package proxy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/heimdallgw/heimdall/internal/config"
)

// Node is one upstream server with its connection pool.
type Node struct {
	// Addr is "host:port" (IPv6 hosts in brackets).
	Addr string
	// Host is the host part, without brackets.
	Host   string
	Port   int
	Weight int
	// hostHeader is what pass_host node sends: host, plus ":port" unless the
	// port is the scheme's default.
	hostHeader []byte
	client     *fasthttp.HostClient
	index      int

	// keepalive_pool: idle is the most idle connections kept, requests the
	// most requests one connection serves (0: no bound).
	idle, requests int
	// open counts the node's open sockets, inflight the requests holding
	// (or about to acquire) one: open − inflight approximates the idle
	// connections in fasthttp's pool, which has no size bound of its own.
	open, inflight atomic.Int64
}

// Upstream is a set of nodes, a balancer and the forwarding settings of one
// config.Upstream. It is safe for concurrent use. Upstreams may be shared by
// routes and survive a reload unchanged; Close releases idle connections.
type Upstream struct {
	ID     string
	Scheme string // "http" or "https"
	// Retries is how many other nodes are tried after a failure.
	Retries      int
	RetryTimeout time.Duration
	PassHost     string
	UpstreamHost []byte
	Timeout      config.Timeout

	nodes    []*Node // weight > 0 only
	balancer balancer
	hashOn   string
	hashKey  string
}

// UpstreamOptions tune the connection pools of an upstream beyond what
// apisix.yaml sets.
type UpstreamOptions struct {
	// MaxConnsPerNode bounds concurrent connections to one node; zero means
	// DefaultMaxConnsPerNode. Requests beyond it wait up to the connect
	// timeout for a free connection.
	MaxConnsPerNode int
	// TLSConfig is used for https upstreams; nil means no certificate
	// verification (nginx's proxy_ssl_verify off, APISIX's default) with the
	// node host as SNI.
	TLSConfig *tls.Config
}

// DefaultMaxConnsPerNode is the connection bound per node when none is set:
// high enough that the pool never becomes the bottleneck under load.
const DefaultMaxConnsPerNode = 4096

// NewUpstream builds an Upstream from its configuration.
func NewUpstream(cfg *config.Upstream, opts UpstreamOptions) (*Upstream, error) {
	if cfg == nil {
		return nil, errors.New("proxy: nil upstream config")
	}
	u := &Upstream{
		ID:           cfg.ID,
		Scheme:       cfg.Scheme,
		RetryTimeout: cfg.RetryTimeout,
		PassHost:     cfg.PassHost,
		UpstreamHost: []byte(cfg.UpstreamHost),
		Timeout:      cfg.Timeout,
		hashOn:       cfg.HashOn,
		hashKey:      cfg.Key,
	}
	if u.Scheme == "" {
		u.Scheme = "http"
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("proxy: upstream %q: unsupported scheme %q", cfg.ID, u.Scheme)
	}
	if u.PassHost == "" {
		u.PassHost = config.PassHostPass
	}
	def := func(d time.Duration) time.Duration {
		if d <= 0 {
			return config.DefaultTimeout
		}
		return d
	}
	u.Timeout.Connect = def(u.Timeout.Connect)
	u.Timeout.Send = def(u.Timeout.Send)
	u.Timeout.Read = def(u.Timeout.Read)
	maxConns := opts.MaxConnsPerNode
	if maxConns <= 0 {
		maxConns = DefaultMaxConnsPerNode
	}
	idle := cfg.KeepalivePool.IdleTimeout
	if idle <= 0 {
		idle = config.DefaultKeepalivePoolIdleTimeout
	}
	poolSize := cfg.KeepalivePool.Size
	if poolSize <= 0 {
		poolSize = config.DefaultKeepalivePoolSize
	}
	for _, n := range cfg.Nodes {
		if n.Weight <= 0 {
			continue
		}
		addr := net.JoinHostPort(n.Host, strconv.Itoa(n.Port))
		node := &Node{Addr: addr, Host: n.Host, Port: n.Port, Weight: n.Weight, index: len(u.nodes)}
		hh := addr
		if (u.Scheme == "http" && n.Port == 80) || (u.Scheme == "https" && n.Port == 443) {
			hh = n.Host
			if net.ParseIP(n.Host) != nil && net.ParseIP(n.Host).To4() == nil {
				hh = "[" + n.Host + "]"
			}
		}
		node.hostHeader = []byte(hh)
		node.idle, node.requests = poolSize, cfg.KeepalivePool.Requests
		node.client = newHostClient(node, u, maxConns, idle, opts.TLSConfig)
		u.nodes = append(u.nodes, node)
	}
	if len(u.nodes) == 0 {
		return nil, fmt.Errorf("proxy: upstream %q has no node with a positive weight", cfg.ID)
	}
	// config applies APISIX's default (nodes − 1); negative asks for it
	// here too. A node is tried at most once per request, as in nginx.
	u.Retries = cfg.Retries
	if u.Retries < 0 || u.Retries > len(u.nodes)-1 {
		u.Retries = len(u.nodes) - 1
	}
	switch cfg.Type {
	case "", config.BalancerRoundRobin:
		u.balancer = newRoundRobin(u.nodes)
	case config.BalancerCHash:
		u.balancer = newCHash(u.nodes)
	default:
		return nil, fmt.Errorf("proxy: upstream %q: unsupported balancer %q", cfg.ID, cfg.Type)
	}
	return u, nil
}

// Nodes returns the nodes with a positive weight.
func (u *Upstream) Nodes() []*Node { return u.nodes }

// Close closes the idle keep-alive connections of every node. Requests still
// running finish; their connections are closed when released.
func (u *Upstream) Close() error {
	for _, n := range u.nodes {
		n.client.CloseIdleConnections()
	}
	return nil
}

func newHostClient(n *Node, u *Upstream, maxConns int, idle time.Duration, tlsCfg *tls.Config) *fasthttp.HostClient {
	addr, host := n.Addr, n.Host
	connect, send, read := u.Timeout.Connect, u.Timeout.Send, u.Timeout.Read
	dialer := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	hc := &fasthttp.HostClient{
		Addr:                     addr,
		Name:                     "",
		NoDefaultUserAgentHeader: true,
		// Error messages without the response bytes (Set-Cookie and the
		// like end up in the error log otherwise).
		SecureErrorLogMessage:         true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		StreamResponseBody:            true,
		// Request bodies are copied through this buffer: at fasthttp's
		// default 4 KiB a 64 KiB body takes 16 write(2) calls, at 32 KiB
		// two (BENCHMARKS.md). Writers are pooled per request, not kept
		// per idle connection, so this costs 32 KiB per request in flight.
		WriteBufferSize: 32 << 10,
		// The read buffer also caps the response head: at fasthttp's
		// default 4 KiB an upstream answer with a larger head (cookies, a
		// CSP) was a 502. 32 KiB, the client-side head limit
		// (server.DefaultMaxHeaderSize); a 64 KiB body is also read in two
		// read(2) calls instead of sixteen. Pooled per request in flight.
		ReadBufferSize:      32 << 10,
		MaxConns:            maxConns,
		MaxConnWaitTimeout:  connect,
		MaxIdleConnDuration: idle,
		// One attempt: the proxy retries on other nodes itself, and a body
		// stream cannot be replayed.
		MaxIdemponentCallAttempts: 1,
	}
	var tc *tls.Config
	if u.Scheme == "https" {
		if tlsCfg != nil {
			tc = tlsCfg.Clone()
		} else {
			tc = &tls.Config{ServerName: host, InsecureSkipVerify: true} //nolint:gosec // nginx/APISIX default
		}
		if tc.ServerName == "" && net.ParseIP(host) == nil {
			tc.ServerName = host
		}
		// The TLS handshake is done by dial, below the connection wrapper
		// (which must see plain HTTP to count requests); fasthttp takes a
		// conn with a Handshake method as TLS already.
		hc.IsTLS = true
		hc.TLSConfig = tc
	}
	// Timeouts are per socket operation, as nginx's proxy_send_timeout and
	// proxy_read_timeout: see upConn.
	dial := func() (net.Conn, error) {
		c, err := dialer.Dial("tcp", addr)
		if err != nil {
			return nil, &dialError{err: err}
		}
		if tc != nil {
			tlsc := tls.Client(c, tc)
			_ = c.SetDeadline(time.Now().Add(connect))
			if err := tlsc.Handshake(); err != nil {
				c.Close()
				return nil, &dialError{err: err}
			}
			_ = c.SetDeadline(time.Time{})
			return tlsc, nil
		}
		return c, nil
	}
	hc.Dial = func(string) (net.Conn, error) {
		c, err := dial()
		if err != nil {
			return nil, err
		}
		n.open.Add(1)
		uc := &upConn{Conn: c, read: read, send: send, node: n, dial: dial,
			yield: runtime.GOMAXPROCS(0) == 1}
		uc.addr.Addr, uc.addr.c = c.LocalAddr(), uc
		return uc, nil
	}
	return hc
}

// dialError marks a failure to connect (502/504 and always retryable).
type dialError struct{ err error }

func (e *dialError) Error() string { return "connect: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }
func (e *dialError) Timeout() bool {
	var ne net.Error
	return errors.As(e.err, &ne) && ne.Timeout()
}

// upConn is an upstream connection as fasthttp's pool holds it. It arms a
// fresh deadline before each read and write, so a timeout bounds the wait
// for the next bytes, not the whole (possibly very long, streamed)
// exchange; and it enforces keepalive_pool.requests.
//
// A request starts with the first Write after a Read (fasthttp writes the
// whole request, then reads the response). The proxy closes a connection
// that served its last request when it releases it (Stream.releaseUpstream).
// fasthttp pools the connection before the proxy sees responses without a
// body (HEAD, 204, 304): such a connection is found spent at the start of
// its next request, and that request goes out on a freshly dialed socket
// instead, before any byte was written, so the switch is invisible to
// fasthttp.
type upConn struct {
	net.Conn
	read, send time.Duration
	node       *Node
	dial       func() (net.Conn, error)
	addr       upAddr
	// served counts the requests started on the current socket.
	served    int
	inRequest bool
	// lastRead is when the socket was last read (the end of the previous
	// response, between requests).
	lastRead time.Time
	// Of the current request: reused — it went out on a socket that had
	// carried a request before; written — request bytes written; answered
	// — a response byte arrived. A reused socket that fails before any
	// response byte was closed by the upstream while idle (see
	// staleFailure).
	reused   bool
	written  int64
	answered bool
	// rdl and wdl are the deadlines armed on the socket.
	rdl, wdl lazyDeadline
	// yield: GOMAXPROCS was 1 when the connection was dialed (see Read).
	yield bool
	// closed: fasthttp may close from two goroutines (an interrupted body
	// read, then the pool).
	closed atomic.Bool
	// uncounted: the conn no longer counts in node.open — closed, or about
	// to be (keepAfter decided so, and concurrent releases must not count
	// it as idle while fasthttp gets round to closing it).
	uncounted atomic.Bool
}

// upAddr is the local address fasthttp records on the response
// (Response.LocalAddr): it leads the proxy back to the connection.
type upAddr struct {
	net.Addr
	c *upConn
}

// Handshake tells fasthttp the conn is TLS already when it is (dial did
// the handshake); for plain conns fasthttp does not look for it.
func (c *upConn) Handshake() error { return nil }

func (c *upConn) LocalAddr() net.Addr { return &c.addr }

func (c *upConn) Read(p []byte) (int, error) {
	if c.inRequest && c.yield {
		// The request was just written: the response cannot be there yet.
		// Reading now would fail with EAGAIN and park this goroutine on the
		// poller (a wasted syscall plus a park and a wake-up). Letting the
		// goroutines that are ready run first gives the upstream time to
		// answer, so the read usually finds the response; when nothing else
		// is runnable this returns at once. Either way the read below is
		// done as before, so no readiness can be missed. Only with a
		// single P (see server.plainConn.Read for why).
		runtime.Gosched()
	}
	c.inRequest = false
	now := time.Now()
	if c.read > 0 {
		c.rdl.arm(c.Conn.SetReadDeadline, now, c.read)
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.answered = true
	}
	c.lastRead = now
	return n, err
}

func (c *upConn) Write(p []byte) (int, error) {
	if !c.inRequest {
		c.inRequest = true
		c.written, c.answered, c.reused = 0, false, false
		if c.retire() {
			if err := c.redial(); err != nil {
				return 0, err
			}
		}
		c.reused = c.served > 0
		c.served++
	}
	if c.send > 0 {
		c.wdl.arm(c.Conn.SetWriteDeadline, time.Now(), c.send)
	}
	n, err := c.Conn.Write(p)
	c.written += int64(n)
	return n, err
}

// staleCheckAfter is how long a pooled connection must have been idle
// before it is checked for a close by the upstream when it is reused.
// Keep-alive timeouts of upstream servers are seconds (gunicorn 2 s,
// Node.js 5 s, nginx 75 s); under load connections are reused within
// microseconds and skip the check's syscall.
const staleCheckAfter = 100 * time.Millisecond

// retire reports whether the socket must be replaced before the request
// that is starting: it served keepalive_pool.requests requests, or it sat
// idle and the upstream closed it meanwhile.
func (c *upConn) retire() bool {
	if max := c.node.requests; max > 0 && c.served >= max {
		return true
	}
	return c.served > 0 && time.Since(c.lastRead) >= staleCheckAfter && peerClosed(c.Conn)
}

// staleFailure reports whether the request that just failed on c found its
// pooled connection closed by the upstream: it reused a socket and nothing
// of the response arrived. Such a request is retried once on another
// connection when it is idempotent or none of it was written (nginx retries
// a request that failed on a cached connection the same way).
func (c *upConn) staleFailure() bool { return c.reused && !c.answered }

// lazyDeadline is a socket deadline re-armed only when it would move by
// more than 1/32 of the timeout (nginx skips re-arming a timer that moves
// by less than 300 ms the same way). Setting a deadline costs a timer
// update in the runtime on every read and write; most operations of a
// keep-alive connection follow each other closely enough to keep the one
// armed. The deadline in force is never later than now + timeout and at
// most timeout/32 earlier.
type lazyDeadline struct{ at time.Time }

func (d *lazyDeadline) arm(set func(time.Time) error, now time.Time, timeout time.Duration) {
	t := now.Add(timeout)
	if ahead := t.Sub(d.at); !d.at.IsZero() && ahead >= 0 && ahead < timeout>>5 {
		return
	}
	if set(t) == nil {
		d.at = t
	} else {
		d.at = time.Time{}
	}
}

// redial replaces the socket of a spent connection.
func (c *upConn) redial() error {
	nc, err := c.dial()
	if err != nil {
		return err
	}
	c.Conn.Close()
	c.Conn, c.served = nc, 0
	c.rdl, c.wdl = lazyDeadline{}, lazyDeadline{}
	c.addr.Addr = nc.LocalAddr()
	return nil
}

// spent reports whether the connection served its last request.
func (c *upConn) spent() bool {
	return c.node.requests > 0 && c.served >= c.node.requests
}

func (c *upConn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	c.uncount()
	return c.Conn.Close()
}

func (c *upConn) uncount() {
	if c.uncounted.CompareAndSwap(false, true) {
		c.node.open.Add(-1)
	}
}

// fasthttp sets whole-request deadlines of its own only when its timeouts
// are configured; they are not, so these are no-ops kept for the interface.
func (c *upConn) SetDeadline(time.Time) error      { return nil }
func (c *upConn) SetReadDeadline(time.Time) error  { return nil }
func (c *upConn) SetWriteDeadline(time.Time) error { return nil }

// keepAfter ends the releasing request's hold on the node and reports
// whether its connection may stay in the pool: not when it served its last
// request, nor when the node already keeps keepalive_pool.size idle
// connections (nginx's keepalive cache bound; here the released connection
// is the one closed). The hold is dropped before counting and a connection
// to be closed stops counting at once, so concurrent releases agree: k
// simultaneous releases on a node with k open connections keep exactly size.
func (n *Node) keepAfter(c *upConn) bool {
	inflight := n.inflight.Add(-1)
	if !c.spent() && n.open.Load()-inflight <= int64(n.idle) {
		return true
	}
	c.uncount()
	return false
}

// balancer picks a node. tried marks nodes already attempted for this
// request (by Node.index); pick must avoid them when it can.
type balancer interface {
	pick(key []byte, tried []bool) *Node
}
