package sockets

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/heimdallgw/heimdall/internal/egress"
)

// call is the decoded form of one host function call.
type call struct {
	ctx context.Context
	in  *instance
	m   *mem
	p   []uint32
}

// opDeadline is the deadline of one blocking operation: the policy deadline
// or the guest's own timeout, whichever is first. policy reports whether the
// policy deadline is the binding one (it answers ETIMEDOUT, the guest's
// timeout EAGAIN as POSIX does).
func (c *call) opDeadline(guest time.Duration) (deadline time.Time, policy bool) {
	now := time.Now()
	if d := c.in.ext.policy.deadline; d > 0 {
		deadline, policy = now.Add(d), true
	}
	if guest > 0 {
		if g := now.Add(guest); deadline.IsZero() || g.Before(deadline) {
			deadline, policy = g, false
		}
	}
	return deadline, policy
}

func (c *call) deadlineErr(op string, s *socket, policy bool) errno {
	if policy {
		c.in.ext.refused(op, s.peer.String(), c.in.ext.deadlineExceeded())
		return errnoTimedout
	}
	return errnoAgain
}

// wait waits, with s.mu held, until ready holds or the operation's deadline
// (see opDeadline, with the guest's timeout guest) passes; s.mu is held
// again when it returns.
func (c *call) wait(op string, s *socket, guest time.Duration, ready func() bool) errno {
	deadline, policy := c.opDeadline(guest)
	if err := s.waitFor(c.ctx, deadline, ready); err != nil {
		if errors.Is(err, errWaitDeadline) {
			return c.deadlineErr(op, s, policy)
		}
		return toErrno(err)
	}
	return errnoSuccess
}

func (c *call) sock(fd uint32) (*socket, errno) {
	s := c.in.get(fd)
	if s == nil {
		return nil, errnoBadf
	}
	return s, errnoSuccess
}

// sockIovecs decodes the (fd, iovs, iovs_len) that the read and write
// functions start with.
func (c *call) sockIovecs() (*socket, [][]byte, errno) {
	s, e := c.sock(c.p[0])
	if e != errnoSuccess {
		return nil, nil, e
	}
	bufs := c.m.iovecs(c.p[1], c.p[2])
	if c.m.fault {
		return nil, nil, errnoFault
	}
	return s, bufs, errnoSuccess
}

// putCount answers e, or when e is success writes the byte count n to *ptr.
func (c *call) putCount(ptr uint32, n int, e errno) errno {
	if e != errnoSuccess {
		return e
	}
	c.m.putU32(ptr, uint32(n))
	return c.m.errno()
}

// tooManySockets logs the refusal of a new socket by max_sockets.
func (c *call) tooManySockets(op, dest string) {
	c.in.ext.refused(op, dest, "max_sockets "+strconv.Itoa(c.in.ext.policy.maxSockets)+" reached")
}

// sockOpen: (af, socktype, *fd).
func sockOpen(c *call) errno {
	af, st := int(c.p[0]&0xff), int(c.p[1]&0xff)
	if af != afInet4 && af != afInet6 {
		return errnoAfnosupport
	}
	if st == 0 {
		st = sockStream
	}
	if st != sockStream && st != sockDgram {
		return errnoProtonosup
	}
	// Without a policy the socket opens but goes nowhere: connect, bind
	// and send_to refuse it, so the refusal can name the destination.
	// Nothing touches the network before those checks.
	fd, e := c.in.add(newSocket(af, st))
	if e != errnoSuccess {
		c.tooManySockets("sock_open", "-")
		return e
	}
	c.m.putU32(c.p[2], fd)
	if c.m.fault {
		c.in.remove(fd)
		return errnoFault
	}
	return errnoSuccess
}

// addrPort decodes a guest address and port for socket s.
func (c *call) addrPort(s *socket, addrPtr, port uint32) (netip.AddrPort, errno) {
	ip, e := c.m.address(addrPtr)
	if e != errnoSuccess {
		return netip.AddrPort{}, e
	}
	a, _ := netip.AddrFromSlice(ip)
	if s.family == afInet4 && !a.Unmap().Is4() {
		return netip.AddrPort{}, errnoAfnosupport
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), errnoSuccess
}

// sockDest decodes the (fd, *addr, port) of sock_bind and sock_connect and
// checks the address against the policy (EACCES, logged, when refused).
func (c *call) sockDest(op string) (*socket, netip.AddrPort, errno) {
	s, e := c.sock(c.p[0])
	if e != errnoSuccess {
		return nil, netip.AddrPort{}, e
	}
	ap, e := c.addrPort(s, c.p[1], c.p[2])
	if e != errnoSuccess {
		return nil, netip.AddrPort{}, e
	}
	if !c.in.allow(op, ap) {
		return nil, netip.AddrPort{}, errnoAcces
	}
	return s, ap, errnoSuccess
}

func network(s *socket) string {
	n := "tcp"
	if s.stype == sockDgram {
		n = "udp"
	}
	if s.family == afInet4 {
		return n + "4"
	}
	return n + "6"
}

// sockBind: (fd, *addr, port).
func sockBind(c *call) errno {
	s, ap, e := c.sockDest("sock_bind")
	if e != errnoSuccess {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bound.IsValid() || s.state != stateNew {
		return errnoInval
	}
	if s.stype == sockDgram {
		u, err := net.ListenUDP(network(s), net.UDPAddrFromAddrPort(ap))
		if err != nil {
			return toErrno(err)
		}
		s.startDatagram(u, c.in.ext.policy.maxBytes)
		return errnoSuccess
	}
	s.bound = ap
	return errnoSuccess
}

// sockListen: (fd, backlog).
func sockListen(c *call) errno {
	s, e := c.sock(c.p[0])
	if e != errnoSuccess {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stype != sockStream {
		return errnoNotsup
	}
	if s.state != stateNew {
		return errnoInval
	}
	if !s.bound.IsValid() {
		return errnoDestaddrreq
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(c.ctx, network(s), s.bound.String())
	if err != nil {
		return toErrno(err)
	}
	if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil {
		s.bound = ap
	}
	s.startListener(ln, int(int32(c.p[1])))
	return errnoSuccess
}

// sockAccept: V1 (fd, *new_fd); V2 (fd, fdflags, *new_fd).
func sockAccept(c *call) errno {
	s, e := c.sock(c.p[0])
	if e != errnoSuccess {
		return e
	}
	flags, out := uint32(0), c.p[1]
	if len(c.p) == 3 {
		flags, out = c.p[1], c.p[2]
	}
	s.mu.Lock()
	if s.state != stateListening {
		s.mu.Unlock()
		return errnoInval
	}
	if !s.nonblock {
		if e := c.wait("sock_accept", s, s.rcvTimeo, s.readable); e != errnoSuccess {
			s.mu.Unlock()
			return e
		}
	}
	if s.closed {
		s.mu.Unlock()
		return errnoBadf
	}
	if len(s.accepted) == 0 {
		err := s.rerr
		s.mu.Unlock()
		if err != nil {
			return toErrno(err)
		}
		return errnoAgain
	}
	conn := s.accepted[0]
	s.accepted = s.accepted[1:]
	s.notify()
	s.mu.Unlock()

	ns := newSocket(s.family, sockStream)
	ns.nonblock = flags&fdflagNonblock != 0
	ns.startStream(conn, c.in.ext.policy.maxBytes)
	fd, e := c.in.add(ns)
	if e != errnoSuccess {
		c.tooManySockets("sock_accept", conn.RemoteAddr().String())
		ns.close()
		return e
	}
	c.m.putU32(out, fd)
	if c.m.fault {
		c.in.remove(fd)
		ns.close()
		return errnoFault
	}
	return errnoSuccess
}

// sockConnect: (fd, *addr, port).
func sockConnect(c *call) errno {
	s, ap, e := c.sockDest("sock_connect")
	if e != errnoSuccess {
		return e
	}
	pol := c.in.ext.policy
	s.mu.Lock()
	if s.stype == sockDgram {
		defer s.mu.Unlock()
		if s.udp == nil {
			u, err := net.ListenUDP(network(s), nil)
			if err != nil {
				return toErrno(err)
			}
			s.startDatagram(u, pol.maxBytes)
		}
		s.peer = ap
		s.state = stateConnected
		return errnoSuccess
	}
	switch s.state {
	case stateConnecting:
		s.mu.Unlock()
		return errnoAlready
	case stateConnected:
		s.mu.Unlock()
		return errnoIsconn
	case stateListening:
		s.mu.Unlock()
		return errnoInval
	}
	d := net.Dialer{}
	if s.bound.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(s.bound)
	}
	s.peer = ap
	s.state = stateConnecting
	nonblock := s.nonblock
	guest := s.sndTimeo
	s.mu.Unlock()

	if nonblock {
		// Complete in the background; the guest polls for writability and
		// reads SO_ERROR, as with a non-blocking connect(2).
		ctx, cancel := c.in.ctx, context.CancelFunc(func() {})
		if pol.deadline > 0 {
			ctx, cancel = context.WithTimeout(ctx, pol.deadline)
		}
		go func() {
			defer cancel()
			conn, err := d.DialContext(ctx, network(s), ap.String())
			s.finishConnect(conn, err, pol.maxBytes)
		}()
		return errnoInprogress
	}
	deadline, policy := c.opDeadline(guest)
	ctx := c.ctx
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	conn, err := d.DialContext(ctx, network(s), ap.String())
	if err != nil && errors.Is(err, context.DeadlineExceeded) && c.ctx.Err() == nil {
		s.finishConnect(nil, err, 0)
		return c.deadlineErr("sock_connect", s, policy)
	}
	s.finishConnect(conn, err, pol.maxBytes)
	return toErrno(err)
}

func (s *socket) finishConnect(conn net.Conn, err error, maxBytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		if conn != nil {
			conn.Close()
		}
		return
	}
	if err != nil {
		s.dialErr = err
		s.state = stateNew
	} else {
		s.dialErr = nil
		s.startStream(conn, maxBytes)
	}
	s.notify()
}

const (
	riflagPeek    = 1
	riflagWaitall = 2
	roflagTrunc   = 1
)

// recv receives into bufs; from is set for datagrams.
func (c *call) recv(op string, s *socket, bufs [][]byte, flags uint32) (n int, from netip.AddrPort, roflags uint32, e errno) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timedOut {
		s.timedOut = false
		return 0, from, 0, errnoTimedout
	}
	if s.state != stateConnected && !(s.stype == sockDgram && s.udp != nil) {
		if s.dialErr != nil {
			return 0, from, 0, toErrno(s.dialErr)
		}
		return 0, from, 0, errnoNotconn
	}
	if !s.nonblock {
		if e := c.wait(op, s, s.rcvTimeo, s.readable); e != errnoSuccess {
			return 0, from, 0, e
		}
	}
	peek := flags&riflagPeek != 0
	switch {
	case s.closed:
		return 0, from, 0, errnoBadf
	case s.stype == sockDgram && len(s.packets) > 0:
		n, from, trunc := s.takePacket(bufs, peek)
		if trunc {
			roflags = roflagTrunc
		}
		return n, from, roflags, errnoSuccess
	case s.stype == sockStream && len(s.rbuf) > 0:
		return s.takeStream(bufs, peek), from, 0, errnoSuccess
	case s.shutRead:
		return 0, from, 0, errnoSuccess
	case s.rerr != nil:
		if errors.Is(s.rerr, errQuota) {
			c.in.ext.refused(op, s.peer.String(), "max_bytes "+strconv.FormatInt(c.in.ext.policy.maxBytes, 10)+" received")
		}
		return 0, from, 0, readErr(s.rerr)
	}
	return 0, from, 0, errnoAgain
}

// send sends bufs to dest (datagram sockets) or the peer.
func (c *call) send(op string, s *socket, bufs [][]byte, dest netip.AddrPort) (int, errno) {
	var data []byte
	if len(bufs) == 1 {
		data = bufs[0]
	} else {
		for _, b := range bufs {
			data = append(data, b...)
		}
	}
	pol := c.in.ext.policy
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, errnoBadf
	}
	if s.shutWrite {
		s.mu.Unlock()
		return 0, errnoPipe
	}
	if s.timedOut {
		s.timedOut = false
		s.mu.Unlock()
		return 0, errnoTimedout
	}
	if pol.maxBytes > 0 {
		left := pol.maxBytes - s.sent
		if left <= 0 || (s.stype == sockDgram && int64(len(data)) > left) {
			s.mu.Unlock()
			c.in.ext.refused(op, s.peer.String(), "max_bytes "+strconv.FormatInt(pol.maxBytes, 10)+" sent")
			return 0, errnoDquot
		}
		if int64(len(data)) > left {
			data = data[:left]
		}
	}
	conn, udp, peer, guest := s.conn, s.udp, s.peer, s.sndTimeo
	if s.stype == sockStream && s.state != stateConnected {
		err := s.dialErr
		s.mu.Unlock()
		if err != nil {
			return 0, toErrno(err)
		}
		return 0, errnoNotconn
	}
	s.mu.Unlock()

	deadline, policy := c.opDeadline(guest)
	var n int
	var err error
	if s.stype == sockDgram {
		if !dest.IsValid() {
			dest = peer
		}
		if !dest.IsValid() {
			return 0, errnoDestaddrreq
		}
		if udp == nil {
			s.mu.Lock()
			if s.udp == nil {
				u, lerr := net.ListenUDP(network(s), nil)
				if lerr != nil {
					s.mu.Unlock()
					return 0, toErrno(lerr)
				}
				s.startDatagram(u, pol.maxBytes)
			}
			udp = s.udp
			s.mu.Unlock()
		}
		udp.SetWriteDeadline(deadline)
		stop := context.AfterFunc(c.ctx, func() { udp.SetWriteDeadline(time.Unix(1, 0)) })
		n, err = udp.WriteToUDPAddrPort(data, dest)
		stop()
	} else {
		conn.SetWriteDeadline(deadline)
		stop := context.AfterFunc(c.ctx, func() { conn.SetWriteDeadline(time.Unix(1, 0)) })
		n, err = conn.Write(data)
		stop()
	}
	s.mu.Lock()
	s.sent += int64(n)
	s.mu.Unlock()
	if err != nil && n == 0 {
		if c.ctx.Err() != nil {
			return 0, toErrno(c.ctx.Err())
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 0, c.deadlineErr(op, s, policy)
		}
		return 0, toErrno(err)
	}
	return n, errnoSuccess
}

// sockRecv: (fd, iovs, iovs_len, riflags, *n, *roflags).
func sockRecv(c *call) errno {
	s, bufs, e := c.sockIovecs()
	if e != errnoSuccess {
		return e
	}
	n, _, ro, e := c.recv("sock_recv", s, bufs, c.p[3])
	if e != errnoSuccess {
		return e
	}
	c.m.putU32(c.p[4], uint32(n))
	c.m.putU16(c.p[5], uint16(ro))
	return c.m.errno()
}

// sockRecvFrom: V1 (fd, iovs, iovs_len, *addr, riflags, *n, *roflags);
// V2 (fd, iovs, iovs_len, *addr, riflags, *port, *n, *roflags).
func sockRecvFrom(c *call) errno {
	s, bufs, e := c.sockIovecs()
	if e != errnoSuccess {
		return e
	}
	n, from, ro, e := c.recv("sock_recv_from", s, bufs, c.p[4])
	if e != errnoSuccess {
		return e
	}
	if !from.IsValid() {
		from = s.peer
	}
	if from.IsValid() {
		if e := c.m.putAddress(c.p[3], from.Addr().AsSlice()); e != errnoSuccess {
			return e
		}
	}
	out := c.p[5:]
	if len(c.p) == 8 {
		c.m.putU32(c.p[5], uint32(from.Port()))
		out = c.p[6:]
	}
	c.m.putU32(out[0], uint32(n))
	c.m.putU16(out[1], uint16(ro))
	return c.m.errno()
}

// sockSend: (fd, iovs, iovs_len, siflags, *n).
func sockSend(c *call) errno {
	s, bufs, e := c.sockIovecs()
	if e != errnoSuccess {
		return e
	}
	n, e := c.send("sock_send", s, bufs, netip.AddrPort{})
	return c.putCount(c.p[4], n, e)
}

// sockSendTo: (fd, iovs, iovs_len, *addr, port, siflags, *n).
func sockSendTo(c *call) errno {
	s, bufs, e := c.sockIovecs()
	if e != errnoSuccess {
		return e
	}
	ap, e := c.addrPort(s, c.p[3], c.p[4])
	if e != errnoSuccess {
		return e
	}
	if s.stype == sockStream {
		ap = netip.AddrPort{}
	} else if !c.in.allow("sock_send_to", ap) {
		return errnoAcces
	}
	n, e := c.send("sock_send_to", s, bufs, ap)
	return c.putCount(c.p[6], n, e)
}

// sockShutdown: (fd, how) with how 1 = read, 2 = write, 3 = both.
func sockShutdown(c *call) errno {
	s, e := c.sock(c.p[0])
	if e != errnoSuccess {
		return e
	}
	how := c.p[1]
	if how == 0 || how > 3 {
		return errnoInval
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateConnected {
		return errnoNotconn
	}
	tcp, _ := s.conn.(*net.TCPConn)
	if how&1 != 0 {
		s.shutRead = true
		if tcp != nil {
			tcp.CloseRead()
		}
	}
	if how&2 != 0 {
		s.shutWrite = true
		if tcp != nil {
			tcp.CloseWrite()
		}
	}
	s.notify()
	return errnoSuccess
}

// Socket options (level SOL_SOCKET = 0).
const (
	soReuseaddr  = 0
	soType       = 1
	soError      = 2
	soBroadcast  = 4
	soSndbuf     = 5
	soRcvbuf     = 6
	soKeepalive  = 7
	soLinger     = 9
	soRcvtimeo   = 11
	soSndtimeo   = 12
	soAcceptconn = 13
)

// sockGetsockopt: (fd, level, name, *val, *val_len).
func sockGetsockopt(c *call) errno {
	s, e := c.sock(c.p[0])
	if e != errnoSuccess {
		return e
	}
	if c.p[1] != 0 {
		return errnoNoprotoopt
	}
	size := c.m.u32(c.p[4])
	if c.m.fault {
		return errnoFault
	}
	s.mu.Lock()
	var v uint32
	var tv time.Duration
	isTime := false
	switch c.p[2] {
	case soType:
		v = uint32(s.stype)
	case soError:
		v = uint32(toErrno(s.dialErr))
		s.dialErr = nil
	case soAcceptconn:
		if s.state == stateListening {
			v = 1
		}
	case soRcvtimeo:
		tv, isTime = s.rcvTimeo, true
	case soSndtimeo:
		tv, isTime = s.sndTimeo, true
	case soReuseaddr, soBroadcast, soSndbuf, soRcvbuf, soKeepalive, soLinger:
		v = s.opts[c.p[2]]
	default:
		s.mu.Unlock()
		return errnoNoprotoopt
	}
	s.mu.Unlock()
	if isTime {
		if size < 16 {
			return errnoInval
		}
		c.m.putU64(c.p[3], uint64(tv/time.Second))
		c.m.putU64(c.p[3]+8, uint64((tv%time.Second)/time.Microsecond))
		c.m.putU32(c.p[4], 16)
	} else {
		if size < 4 {
			return errnoInval
		}
		c.m.putU32(c.p[3], v)
		c.m.putU32(c.p[4], 4)
	}
	return c.m.errno()
}

// sockSetsockopt: (fd, level, name, *val, val_len). Timeouts take a timeval
// of two i64 (wasi-libc) or two i32.
func sockSetsockopt(c *call) errno {
	s, e := c.sock(c.p[0])
	if e != errnoSuccess {
		return e
	}
	if c.p[1] != 0 {
		return errnoNoprotoopt
	}
	b := c.m.bytes(c.p[3], c.p[4])
	if c.m.fault {
		return errnoFault
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch c.p[2] {
	case soRcvtimeo, soSndtimeo:
		var sec, usec int64
		switch len(b) {
		case 16:
			sec, usec = int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint64(b[8:]))
		case 8:
			sec, usec = int64(int32(binary.LittleEndian.Uint32(b))), int64(int32(binary.LittleEndian.Uint32(b[4:])))
		default:
			return errnoInval
		}
		if sec < 0 || usec < 0 || usec >= 1e6 {
			return errnoInval
		}
		d := time.Duration(sec)*time.Second + time.Duration(usec)*time.Microsecond
		if c.p[2] == soRcvtimeo {
			s.rcvTimeo = d
		} else {
			s.sndTimeo = d
		}
	case soReuseaddr, soBroadcast, soSndbuf, soRcvbuf, soKeepalive, soLinger:
		if len(b) < 4 {
			return errnoInval
		}
		v := binary.LittleEndian.Uint32(b)
		s.opts[c.p[2]] = v
		if tcp, ok := s.conn.(*net.TCPConn); ok {
			switch c.p[2] {
			case soKeepalive:
				tcp.SetKeepAlive(v != 0)
			case soSndbuf:
				tcp.SetWriteBuffer(int(v))
			case soRcvbuf:
				tcp.SetReadBuffer(int(v))
			}
		}
	default:
		return errnoNoprotoopt
	}
	return errnoSuccess
}

// sockAddr: getlocaladdr / getpeeraddr, V1 (fd, *addr, *addr_type, *port)
// with addr_type 4 or 6, V2 (fd, *addr, *port).
func sockAddr(peer bool) func(c *call) errno {
	return func(c *call) errno {
		s, e := c.sock(c.p[0])
		if e != errnoSuccess {
			return e
		}
		s.mu.Lock()
		ap := s.bound
		switch {
		case peer:
			ap = s.peer
			if s.state != stateConnected {
				ap = netip.AddrPort{}
			}
		case s.conn != nil:
			if la, err := netip.ParseAddrPort(s.conn.LocalAddr().String()); err == nil {
				ap = la
			}
		}
		s.mu.Unlock()
		if !ap.IsValid() {
			if peer {
				return errnoNotconn
			}
			ap = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
			if s.family == afInet6 {
				ap = netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
			}
		}
		a := ap.Addr().Unmap()
		if s.family == afInet6 {
			a = netip.AddrFrom16(a.As16())
		}
		if e := c.m.putAddress(c.p[1], a.AsSlice()); e != errnoSuccess {
			return e
		}
		portPtr := c.p[2]
		if len(c.p) == 4 {
			typ := uint32(4)
			if a.Is6() {
				typ = 6
			}
			c.m.putU32(c.p[2], typ)
			portPtr = c.p[3]
		}
		c.m.putU32(portPtr, uint32(ap.Port()))
		return c.m.errno()
	}
}

// getaddrinfo flags.
const (
	aiPassive     = 1 << 0
	aiCanonname   = 1 << 1
	aiNumerichost = 1 << 2
	aiNumericserv = 1 << 3
	aiAllFlags    = 1<<7 - 1
)

// cString reads a string that may carry trailing NULs (the Rust SDK sends
// them).
func cString(b []byte) string {
	return strings.TrimRight(string(b), "\x00")
}

// sockGetaddrinfo: (node, node_len, svc, svc_len, *hints, *res, max, *n).
//
// *res points to the guest's first preallocated addrinfo; each links to the
// next through ai_next and to a sockaddr {u16 family, u32 sa_data_len, u32
// sa_data} whose sa_data receives the big-endian port followed by the IP.
// ai_addrlen is set to the bytes written there (6 or 18).
func sockGetaddrinfo(c *call) errno {
	node := cString(c.m.bytes(c.p[0], c.p[1]))
	svc := cString(c.m.bytes(c.p[2], c.p[3]))
	var flags, family, stype, proto uint32
	if c.p[4] != 0 {
		flags = uint32(c.m.u16(c.p[4]))
		family = c.m.u32(c.p[4]) >> 16 & 0xff
		stype = c.m.u32(c.p[4]) >> 24
		proto = c.m.u32(c.p[4]+4) & 0xff
	}
	first := c.m.u32(c.p[5])
	max := c.p[6]
	if c.m.fault {
		return errnoFault
	}
	switch {
	case node == "" && svc == "":
		return errnoAINoname
	case max < 1:
		return errnoAIMemory
	case flags&^aiAllFlags != 0, flags&aiCanonname != 0 && node == "":
		return errnoAIBadflag
	case family > afInet6:
		return errnoAIFamily
	case stype > sockStream:
		return errnoAISocktype
	}
	if stype == 0 {
		stype = sockStream
		if proto == 2 {
			stype = sockDgram
		}
	}
	proto = 1
	if stype == sockDgram {
		proto = 2
	}
	ext := c.in.ext
	ctx := c.ctx
	if d := ext.policy.deadline; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}

	var port uint16
	if svc != "" {
		p, err := strconv.ParseUint(svc, 10, 16)
		switch {
		case err == nil:
			port = uint16(p)
		case flags&aiNumericserv != 0:
			return errnoAINoname
		default:
			n, err := ext.resolver.LookupPort(ctx, map[uint32]string{sockStream: "tcp", sockDgram: "udp"}[stype], svc)
			if err != nil {
				return errnoAIService
			}
			port = uint16(n)
		}
	}

	var addrs []netip.Addr
	name := ""
	switch a, err := netip.ParseAddr(node); {
	case node == "":
		if flags&aiPassive != 0 {
			addrs = []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}
		} else {
			addrs = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}
		}
	case err == nil:
		addrs = []netip.Addr{a.Unmap()}
	case flags&aiNumerichost != 0:
		return errnoAINoname
	case !ext.egress.DNS():
		_ = ext.egress.Refuse("sock_getaddrinfo", node, "dns not allowed")
		return errnoAcces
	default:
		name = node
		nw := map[uint32]string{0: "ip", afInet4: "ip4", afInet6: "ip6"}[family]
		res, err := ext.resolver.LookupNetIP(ctx, nw, node)
		if err != nil {
			if ctx.Err() != nil && c.ctx.Err() == nil {
				ext.refused("sock_getaddrinfo", node, ext.deadlineExceeded())
				return errnoTimedout
			}
			return toErrno(err)
		}
		for _, a := range res {
			addrs = append(addrs, a.Unmap())
		}
	}

	var allowed, denied []netip.Addr
	for _, a := range addrs {
		if (family == afInet4 && !a.Is4()) || (family == afInet6 && !a.Is6()) {
			continue
		}
		names := c.in.namesOf(a)
		if name != "" {
			names = append([]string{name}, names...)
		}
		if ok, _ := ext.egress.MayReach(a, names); ok {
			allowed = append(allowed, a)
		} else {
			denied = append(denied, a)
		}
	}
	if len(allowed) == 0 {
		if len(denied) > 0 {
			_, reason := ext.egress.MayReach(denied[0], []string{name})
			_ = ext.egress.Refuse("sock_getaddrinfo", node+" ("+egress.JoinAddrs(denied)+")", reason)
			return errnoAcces
		}
		return errnoAINodata
	}

	n := uint32(0)
	ai := first
	for _, a := range allowed {
		if n == max || ai == 0 {
			break
		}
		ip := a.AsSlice()
		sa := c.m.u32(ai + 12)
		saLen := c.m.u32(sa + 4)
		saData := c.m.u32(sa + 8)
		if c.m.fault {
			return errnoFault
		}
		if saLen < uint32(2+len(ip)) {
			continue // the guest's buffer cannot hold this family
		}
		fam := uint16(afInet4)
		if a.Is6() {
			fam = afInet6
		}
		data := make([]byte, 2+len(ip))
		binary.BigEndian.PutUint16(data, port)
		copy(data[2:], ip)
		c.m.write(saData, data)
		c.m.putU16(sa, fam)
		c.m.putU16(ai, uint16(flags))
		c.m.putU8(ai+2, uint8(fam))
		c.m.putU8(ai+3, uint8(stype))
		c.m.putU32(ai+4, proto)
		c.m.putU32(ai+8, uint32(len(data)))
		canonLen := uint32(0)
		if flags&aiCanonname != 0 && n == 0 {
			canon := c.m.u32(ai + 16)
			canonLen = min(c.m.u32(ai+20), uint32(len(node)))
			if canonLen > 0 {
				c.m.write(canon, []byte(node[:canonLen]))
			}
		}
		c.m.putU32(ai+20, canonLen)
		if name != "" {
			c.in.remember(name, a)
		}
		n++
		ai = c.m.u32(ai + 24)
		if c.m.fault {
			return errnoFault
		}
	}
	c.m.putU32(c.p[7], n)
	if c.m.fault {
		return errnoFault
	}
	if n == 0 {
		return errnoAINodata
	}
	return errnoSuccess
}
