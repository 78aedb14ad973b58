package server

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// connInfo is what the handlers need from a connection, computed once per
// connection instead of once per request.
type connInfo struct {
	once     sync.Once
	client   string
	clientIP string
	local    string
	// linger asks Close to drain the peer's unread input first: closing a
	// socket with unread data makes the kernel send a reset, which can
	// destroy the error response (413, 431) before the client reads it.
	linger atomic.Bool
}

func (ci *connInfo) fill(c net.Conn) {
	ci.once.Do(func() {
		if a := c.RemoteAddr(); a != nil {
			ci.client = a.String()
			if ta, ok := a.(*net.TCPAddr); ok {
				ci.clientIP = ta.IP.String()
			} else if h, _, err := net.SplitHostPort(ci.client); err == nil {
				ci.clientIP = h
			} else {
				ci.clientIP = ci.client
			}
		}
		if a := c.LocalAddr(); a != nil {
			ci.local = a.String()
		}
	})
}

type infoConn interface {
	connInfo() *connInfo
	head() *headScan
}

// Linger timing: how long and how much a closing connection drains. The
// byte cap must exceed what a client may still be sending after an early
// answer (a 413 to an upload): closing with its data unread sends a reset,
// and the reset makes the client's kernel drop the answer it has not read
// yet (with 1 MiB a 4 MiB upload lost its 413 about one time in three).
// nginx bounds its lingering close by time only.
const (
	lingerTimeout = 2 * time.Second
	lingerBytes   = 64 << 20
)

// lingerClose half-closes c, drains what the peer still sends and closes.
func lingerClose(c net.Conn, closeWrite func() error) error {
	_ = c.SetWriteDeadline(time.Now().Add(lingerTimeout))
	if closeWrite != nil {
		_ = closeWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(lingerTimeout))
	_, _ = io.CopyN(io.Discard, c, lingerBytes)
	return c.Close()
}

// plainConn is an accepted TCP connection.
type plainConn struct {
	net.Conn
	info connInfo
	dl   deadlines
	hs   headScan
	// wrote: the last operation was a write (a response went out).
	wrote bool
	// yield: see Read.
	yield bool
}

// Read yields before reading the next request of a keep-alive connection:
// right after a response was written the client cannot have sent the next
// request yet, so reading at once fails with EAGAIN and parks the goroutine
// on the poller (a wasted syscall, a park and a wake-up per request).
// Letting the other ready goroutines run first usually gives the client the
// time to send it; when nothing else is runnable Gosched returns at once.
// The read itself is unchanged, so no readiness can be missed.
//
// Only with a single P (GOMAXPROCS=1 when the connection was accepted, the
// one-process-per-core setup): with idle Ps, Gosched wakes one to steal the
// goroutine, which costs more than the failed read it saves at low load.
func (c *plainConn) Read(p []byte) (int, error) {
	if c.wrote {
		c.wrote = false
		if c.yield {
			runtime.Gosched()
		}
	}
	if !c.hs.on && c.dl.body > 0 {
		c.dl.armBody(c.Conn)
	}
	if c.hs.err != nil {
		return 0, c.hs.err
	}
	n, err := c.Conn.Read(p)
	if n > 0 && c.hs.on {
		// The bytes go to fasthttp, the error with the next Read: an error
		// on the first read of a keep-alive request would look to fasthttp
		// like the client closing the connection (no answer).
		c.hs.err = c.hs.scan(p[:n])
	}
	return n, err
}

func (c *plainConn) Write(p []byte) (int, error) {
	c.wrote = true
	c.hs.write()
	return c.Conn.Write(p)
}

func (c *plainConn) connInfo() *connInfo { return &c.info }

func (c *plainConn) head() *headScan { return &c.hs }

func (c *plainConn) Close() error {
	if c.info.linger.Load() {
		var cw func() error
		if tc, ok := c.Conn.(*net.TCPConn); ok {
			cw = tc.CloseWrite
		}
		return lingerClose(c.Conn, cw)
	}
	return c.Conn.Close()
}

func (c *plainConn) SetDeadline(t time.Time) error {
	c.hs.next()
	return c.dl.setBoth(c.Conn, t)
}

func (c *plainConn) SetReadDeadline(t time.Time) error {
	c.hs.next()
	return c.dl.read.set(c.Conn.SetReadDeadline, t, c.dl.readSlack)
}

func (c *plainConn) SetWriteDeadline(t time.Time) error {
	return c.dl.write.set(c.Conn.SetWriteDeadline, t, c.dl.writeSlack)
}

// deadlines skips re-arming a socket deadline that would move later by
// less than a slack (1/32 of the shortest timeout that sets it, see
// newDeadlines): fasthttp arms the idle deadline and then the read deadline
// for every request, and each costs a runtime timer update, while with
// equal timeouts they differ by microseconds. The deadline in force is never
// later than the one asked for and at most the slack earlier; clearing and
// moving a deadline earlier are always applied. nginx skips moving its
// timers by less than 300 ms the same way.
type deadlines struct {
	read, write           armed
	readSlack, writeSlack time.Duration
	// body is the client_body_timeout, armed before each read of a request
	// body (the head is done): see armBody.
	body time.Duration
}

func newDeadlines(cfg *Config) deadlines {
	read := min(cfg.ReadTimeout, cfg.IdleTimeout, cfg.BodyTimeout)
	if read <= 0 {
		read = max(cfg.ReadTimeout, cfg.IdleTimeout)
	}
	return deadlines{readSlack: read >> 5, writeSlack: cfg.WriteTimeout >> 5, body: cfg.BodyTimeout}
}

// armBody moves the read deadline to body from now, before a read after
// the request head: fasthttp reads the body under the deadline it armed
// for the head, which would cut a long upload and lets a client stall a
// body for the rest of the head's timeout. Lazy like the others (at most
// the slack early). Reads past the body before the next head (draining an
// unread body) are bounded the same way.
func (d *deadlines) armBody(c net.Conn) {
	_ = d.read.set(c.SetReadDeadline, time.Now().Add(d.body), d.readSlack)
}

func (d *deadlines) setBoth(c net.Conn, t time.Time) error {
	d.read, d.write = armed{}, armed{}
	if err := c.SetDeadline(t); err != nil {
		return err
	}
	d.read, d.write = armed{at: t, ok: true}, armed{at: t, ok: true}
	return nil
}

// armed is the deadline known to be set on the socket (ok false: unknown).
type armed struct {
	at time.Time
	ok bool
}

func (a *armed) set(set func(time.Time) error, t time.Time, slack time.Duration) error {
	if a.ok {
		if t.IsZero() || a.at.IsZero() {
			if t.IsZero() && a.at.IsZero() {
				return nil
			}
		} else if ahead := t.Sub(a.at); ahead >= 0 && ahead < slack {
			return nil
		}
	}
	a.ok = false
	if err := set(t); err != nil {
		return err
	}
	a.at, a.ok = t, true
	return nil
}

// tlsConn keeps *tls.Conn's methods visible (fasthttp detects TLS through
// Handshake and ConnectionState).
type tlsConn struct {
	*tls.Conn
	info connInfo
	dl   deadlines
	// hs checks HTTP/1.1 request heads; off (hs.on false, never started)
	// on HTTP/2 connections.
	hs headScan
}

func (c *tlsConn) Read(p []byte) (int, error) {
	if c.hs.enabled && !c.hs.on && c.dl.body > 0 {
		c.dl.armBody(c.Conn)
	}
	if c.hs.err != nil {
		return 0, c.hs.err
	}
	n, err := c.Conn.Read(p)
	if n > 0 && c.hs.on {
		// The bytes go to fasthttp, the error with the next Read: an error
		// on the first read of a keep-alive request would look to fasthttp
		// like the client closing the connection (no answer).
		c.hs.err = c.hs.scan(p[:n])
	}
	return n, err
}

func (c *tlsConn) Write(p []byte) (int, error) {
	c.hs.write()
	return c.Conn.Write(p)
}

func (c *tlsConn) SetDeadline(t time.Time) error {
	c.hs.next()
	return c.dl.setBoth(c.Conn, t)
}

func (c *tlsConn) SetReadDeadline(t time.Time) error {
	c.hs.next()
	return c.dl.read.set(c.Conn.SetReadDeadline, t, c.dl.readSlack)
}

func (c *tlsConn) SetWriteDeadline(t time.Time) error {
	return c.dl.write.set(c.Conn.SetWriteDeadline, t, c.dl.writeSlack)
}

func (c *tlsConn) connInfo() *connInfo { return &c.info }

func (c *tlsConn) head() *headScan { return &c.hs }

func (c *tlsConn) Close() error {
	if c.info.linger.Load() {
		return lingerClose(c.Conn, c.Conn.CloseWrite)
	}
	return c.Conn.Close()
}

type plainListener struct {
	net.Listener
	dl         deadlines
	maxHeaders int
}

func (l *plainListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	pc := &plainConn{Conn: c, dl: l.dl, yield: runtime.GOMAXPROCS(0) == 1}
	pc.hs.maxHeaders = l.maxHeaders
	pc.hs.start()
	return pc, nil
}

// chanListener is the net.Listener fasthttp serves on a TLS port: the TLS
// accept loop hands it the connections that chose HTTP/1.1.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// deliver hands c to fasthttp; false when the listener is closed.
func (l *chanListener) deliver(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.closed:
		return false
	}
}

// acceptTLS accepts on l, runs each handshake in its own goroutine and
// dispatches by ALPN.
func (s *Server) acceptTLS(l net.Listener, h1 *chanListener) error {
	var delay time.Duration
	for {
		raw, err := l.Accept()
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.h2wg.Add(1)
		go func() {
			defer s.h2wg.Done()
			tc := tls.Server(raw, s.tls)
			_ = tc.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
			if err := tc.Handshake(); err != nil {
				tc.Close()
				return
			}
			_ = tc.SetDeadline(time.Time{})
			c := &tlsConn{Conn: tc, dl: newDeadlines(&s.cfg)}
			if tc.ConnectionState().NegotiatedProtocol == "h2" {
				s.serveH2Conn(c)
				return
			}
			c.hs.maxHeaders = s.cfg.MaxHeaderCount
			c.hs.start()
			if !h1.deliver(c) {
				c.Close()
			}
		}()
	}
}
