package sockets

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Address families and socket types of the WasmEdge ABI.
const (
	afInet4    = 1
	afInet6    = 2
	sockDgram  = 1
	sockStream = 2
)

const (
	// maxBuffered bounds the bytes a stream socket reads ahead of the guest.
	maxBuffered = 256 << 10
	// maxPackets bounds the datagrams a UDP socket queues for the guest.
	maxPackets = 64
	// defaultBacklog is the accept queue when the guest asks for 0.
	defaultBacklog = 16
)

type sockState int

const (
	stateNew sockState = iota
	stateConnecting
	stateConnected
	stateListening
)

type packet struct {
	data []byte
	from netip.AddrPort
}

// socket is one guest socket. Its readers (a goroutine per connection,
// datagram socket or listener) fill queues that the guest drains, so every
// readiness question (poll_oneoff, non-blocking reads) is answered from
// memory and blocking reads wait on a channel with a deadline.
type socket struct {
	family, stype int

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced whenever the state below changes
	closed   bool
	state    sockState
	nonblock bool
	rcvTimeo time.Duration
	sndTimeo time.Duration
	opts     map[uint32]uint32 // integer options kept for getsockopt

	bound   netip.AddrPort
	peer    netip.AddrPort // stream: remote; datagram: default destination
	conn    net.Conn
	udp     *net.UDPConn
	ln      net.Listener
	dialErr error // result of a non-blocking connect, for SO_ERROR

	rbuf      []byte
	rerr      error // terminal read error (io.EOF on orderly close)
	packets   []packet
	accepted  []net.Conn
	backlog   int
	sent      int64
	received  int64
	shutRead  bool
	shutWrite bool
	// timedOut is set when a poll_oneoff wait on this socket ran past the
	// policy deadline; the next read or write fails with ETIMEDOUT.
	timedOut bool
}

func newSocket(family, stype int) *socket {
	return &socket{family: family, stype: stype, changed: make(chan struct{}), opts: map[uint32]uint32{}}
}

// notify wakes every waiter. Callers hold s.mu.
func (s *socket) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// close releases the socket; goroutines reading it end.
func (s *socket) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	conn, udp, ln, acc := s.conn, s.udp, s.ln, s.accepted
	s.accepted = nil
	s.notify()
	s.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
	if udp != nil {
		udp.Close()
	}
	if ln != nil {
		ln.Close()
	}
	for _, c := range acc {
		c.Close()
	}
}

// readable reports whether a read or accept would not block. Callers hold s.mu.
func (s *socket) readable() bool {
	switch {
	case s.closed:
		return true
	case s.state == stateListening:
		return len(s.accepted) > 0 || s.rerr != nil
	case s.stype == sockDgram:
		return len(s.packets) > 0 || s.rerr != nil
	case s.state == stateConnecting:
		return false
	case s.state == stateConnected:
		return len(s.rbuf) > 0 || s.rerr != nil || s.shutRead
	}
	return s.dialErr != nil
}

// writable reports whether a write would not block. Callers hold s.mu.
func (s *socket) writable() bool {
	switch {
	case s.closed || s.dialErr != nil:
		return true
	case s.stype == sockDgram:
		return true
	}
	return s.state == stateConnected
}

// waitFor waits until cond holds (checked under s.mu), the deadline passes,
// or ctx ends. It returns with s.mu held and reports why it stopped.
func (s *socket) waitFor(ctx context.Context, deadline time.Time, cond func() bool) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for !cond() {
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return errWaitDeadline
		}
		ch := s.changed
		s.mu.Unlock()
		var tc <-chan time.Time
		if !deadline.IsZero() {
			if timer == nil {
				timer = time.NewTimer(time.Until(deadline))
			}
			tc = timer.C
		}
		select {
		case <-ch:
			s.mu.Lock()
		case <-tc:
			s.mu.Lock()
			return errWaitDeadline
		case <-ctx.Done():
			s.mu.Lock()
			return ctx.Err()
		}
	}
	return nil
}

// errWaitDeadline is returned by waitFor when its deadline passes.
var errWaitDeadline = errors.New("deadline exceeded")

// startStream begins reading a connected stream socket.
func (s *socket) startStream(c net.Conn, maxBytes int64) {
	s.conn = c
	s.state = stateConnected
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		s.peer = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	go s.readStream(c, maxBytes)
}

func (s *socket) readStream(c net.Conn, maxBytes int64) {
	buf := make([]byte, 32<<10)
	for {
		s.mu.Lock()
		for !s.closed && len(s.rbuf) >= maxBuffered {
			ch := s.changed
			s.mu.Unlock()
			<-ch
			s.mu.Lock()
		}
		if s.closed {
			s.mu.Unlock()
			return
		}
		room := int64(len(buf))
		if maxBytes > 0 {
			if left := maxBytes - s.received; left < room {
				room = left
			}
			if room <= 0 {
				s.rerr = errQuota
				s.notify()
				s.mu.Unlock()
				return
			}
		}
		s.mu.Unlock()
		n, err := c.Read(buf[:room])
		s.mu.Lock()
		s.rbuf = append(s.rbuf, buf[:n]...)
		s.received += int64(n)
		if err != nil && s.rerr == nil {
			s.rerr = err
		}
		s.notify()
		s.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// startDatagram begins reading a datagram socket.
func (s *socket) startDatagram(c *net.UDPConn, maxBytes int64) {
	s.udp = c
	if ap, err := netip.ParseAddrPort(c.LocalAddr().String()); err == nil {
		s.bound = ap
	}
	go s.readDatagrams(c, maxBytes)
}

func (s *socket) readDatagrams(c *net.UDPConn, maxBytes int64) {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		if err != nil {
			s.rerr = err
			s.notify()
			s.mu.Unlock()
			return
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		switch {
		case s.peer.IsValid() && from != s.peer:
			// A connected datagram socket only hears its peer.
		case maxBytes > 0 && s.received+int64(n) > maxBytes:
			s.rerr = errQuota
			s.notify()
			s.mu.Unlock()
			return
		case len(s.packets) < maxPackets:
			s.received += int64(n)
			s.packets = append(s.packets, packet{data: append([]byte(nil), buf[:n]...), from: from})
			s.notify()
		}
		s.mu.Unlock()
	}
}

// startListener begins accepting on a listening socket.
func (s *socket) startListener(ln net.Listener, backlog int) {
	s.ln = ln
	s.state = stateListening
	if backlog <= 0 {
		backlog = defaultBacklog
	}
	s.backlog = backlog
	go s.acceptLoop(ln)
}

func (s *socket) acceptLoop(ln net.Listener) {
	for {
		s.mu.Lock()
		for !s.closed && len(s.accepted) >= s.backlog {
			ch := s.changed
			s.mu.Unlock()
			<-ch
			s.mu.Lock()
		}
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return
		}
		c, err := ln.Accept()
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			if c != nil {
				c.Close()
			}
			return
		}
		if err != nil {
			s.rerr = err
		} else {
			s.accepted = append(s.accepted, c)
		}
		s.notify()
		s.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// takeStream copies buffered stream bytes into bufs. Callers hold s.mu.
func (s *socket) takeStream(bufs [][]byte, peek bool) int {
	src := s.rbuf
	n := 0
	for _, b := range bufs {
		c := copy(b, src)
		n += c
		src = src[c:]
		if len(src) == 0 {
			break
		}
	}
	if !peek {
		s.rbuf = s.rbuf[n:]
		if len(s.rbuf) == 0 {
			s.rbuf = nil
		}
		s.notify() // room for the reader
	}
	return n
}

// takePacket copies the next datagram into bufs. Callers hold s.mu.
func (s *socket) takePacket(bufs [][]byte, peek bool) (n int, from netip.AddrPort, truncated bool) {
	p := s.packets[0]
	src := p.data
	for _, b := range bufs {
		c := copy(b, src)
		n += c
		src = src[c:]
	}
	if !peek {
		s.packets = s.packets[1:]
		s.notify()
	}
	return n, p.from, len(src) > 0
}

// readErr is the errno for a drained socket whose reader stopped.
func readErr(err error) errno {
	if errors.Is(err, io.EOF) {
		return errnoSuccess
	}
	return toErrno(err)
}
