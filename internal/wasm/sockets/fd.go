package sockets

import (
	"reflect"
	"time"
)

// WASI descriptor flags and file types used for sockets.
const (
	fdflagNonblock     = 1 << 2
	filetypeSockDgram  = 5
	filetypeSockStream = 6
)

// fdRead: (fd, iovs, iovs_len, *nread) on a socket.
func fdRead(c *call) errno {
	s, bufs, e := c.sockIovecs()
	if e != errnoSuccess {
		return e
	}
	n, _, _, e := c.recv("fd_read", s, bufs, 0)
	return c.putCount(c.p[3], n, e)
}

// fdWrite: (fd, iovs, iovs_len, *nwritten) on a socket.
func fdWrite(c *call) errno {
	s, bufs, e := c.sockIovecs()
	if e != errnoSuccess {
		return e
	}
	n, e := c.send("fd_write", s, bufs, s.peer)
	return c.putCount(c.p[3], n, e)
}

// fdClose: (fd) on a socket.
func fdClose(c *call) errno {
	s := c.in.remove(c.p[0])
	if s == nil {
		return errnoBadf
	}
	s.close()
	return errnoSuccess
}

// fdFdstatGet: (fd, *fdstat) on a socket.
func fdFdstatGet(c *call) errno {
	s, e := c.sock(c.p[0])
	if e != errnoSuccess {
		return e
	}
	s.mu.Lock()
	ft := uint8(filetypeSockStream)
	if s.stype == sockDgram {
		ft = filetypeSockDgram
	}
	var flags uint16
	if s.nonblock {
		flags = fdflagNonblock
	}
	s.mu.Unlock()
	out := c.p[1]
	c.m.write(out, make([]byte, 24))
	c.m.putU8(out, ft)
	c.m.putU16(out+2, flags)
	// fd_read, fd_write, fd_fdstat_set_flags, poll_fd_readwrite, sock_shutdown, sock_accept.
	const rights = 1<<1 | 1<<6 | 1<<3 | 1<<27 | 1<<28 | 1<<29
	c.m.putU64(out+8, rights)
	c.m.putU64(out+16, rights)
	return c.m.errno()
}

// fdFdstatSetFlags: (fd, flags) on a socket; only NONBLOCK is meaningful.
func fdFdstatSetFlags(c *call) errno {
	s, e := c.sock(c.p[0])
	if e != errnoSuccess {
		return e
	}
	s.mu.Lock()
	s.nonblock = c.p[1]&fdflagNonblock != 0
	s.mu.Unlock()
	return errnoSuccess
}

// Subscription and event layout of poll_oneoff.
const (
	subSize     = 48
	eventSize   = 32
	tagClock    = 0
	tagFdRead   = 1
	tagFdWrite  = 2
	clockAbstim = 1
)

// pollHasSocket reports whether any subscription names a socket descriptor;
// poll_oneoff without one goes to wazero unchanged.
func pollHasSocket(m *mem, in uint32, nsubs uint32) bool {
	for i := uint32(0); i < nsubs; i++ {
		sub := in + i*subSize
		tag := m.bytes(sub+8, 1)
		if m.fault {
			return false
		}
		if (tag[0] == tagFdRead || tag[0] == tagFdWrite) && m.u32(sub+16) >= FirstFD {
			return true
		}
	}
	return false
}

// pollOneoff: (in, out, nsubs, *nevents) when a socket is involved. Other
// descriptors in the same call are reported ready at once (as regular files
// are); clocks are relative, or absolute on the realtime clock.
func pollOneoff(c *call) errno {
	in, out, nsubs := c.p[0], c.p[1], c.p[2]
	if nsubs == 0 {
		return errnoInval
	}
	type sub struct {
		userdata uint64
		tag      uint8
		fd       uint32
		sock     *socket
		deadline time.Time
	}
	subs := make([]sub, nsubs)
	now := time.Now()
	var deadline time.Time
	for i := range subs {
		p := in + uint32(i)*subSize
		s := &subs[i]
		s.userdata = c.m.u64(p)
		t := c.m.bytes(p+8, 1)
		if c.m.fault {
			return errnoFault
		}
		s.tag = t[0]
		switch s.tag {
		case tagClock:
			id, timeout, flags := c.m.u32(p+16), c.m.u64(p+24), c.m.u16(p+40)
			switch {
			case flags&clockAbstim == 0:
				s.deadline = now.Add(time.Duration(timeout))
			case id == 0:
				s.deadline = time.Unix(0, int64(timeout))
			default:
				return errnoNotsup
			}
			if deadline.IsZero() || s.deadline.Before(deadline) {
				deadline = s.deadline
			}
		case tagFdRead, tagFdWrite:
			s.fd = c.m.u32(p + 16)
			if s.fd >= FirstFD {
				s.sock = c.in.get(s.fd)
			}
		default:
			return errnoInval
		}
	}
	if c.m.fault {
		return errnoFault
	}

	// The policy deadline bounds a wait on sockets: when it passes, the
	// sockets are reported ready and their next read or write fails with
	// ETIMEDOUT, which is how a non-blocking guest learns of it.
	var policyDeadline time.Time
	if d := c.in.ext.policy.deadline; d > 0 {
		policyDeadline = now.Add(d)
		if deadline.IsZero() || policyDeadline.Before(deadline) {
			deadline = policyDeadline
		}
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		n := uint32(0)
		event := func(s *sub, err errno, nbytes uint64) {
			p := out + n*eventSize
			c.m.write(p, make([]byte, eventSize))
			c.m.putU64(p, s.userdata)
			c.m.putU16(p+8, uint16(err))
			c.m.putU8(p+10, s.tag)
			c.m.putU64(p+16, nbytes)
			n++
		}
		cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c.ctx.Done())}}
		for i := range subs {
			s := &subs[i]
			switch {
			case s.tag == tagClock:
			case s.sock == nil && s.fd >= FirstFD:
				event(s, errnoBadf, 0)
			case s.sock == nil:
				event(s, errnoSuccess, 0)
			default:
				s.sock.mu.Lock()
				ready := s.sock.writable()
				nbytes := uint64(0)
				if s.tag == tagFdRead {
					ready = s.sock.readable()
					nbytes = uint64(len(s.sock.rbuf))
				}
				if ready {
					event(s, errnoSuccess, nbytes)
				}
				cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(s.sock.changed)})
				s.sock.mu.Unlock()
			}
		}
		if n == 0 && !policyDeadline.IsZero() && !time.Now().Before(policyDeadline) {
			for i := range subs {
				if s := &subs[i]; s.sock != nil {
					s.sock.mu.Lock()
					s.sock.timedOut = true
					peer := s.sock.peer
					s.sock.mu.Unlock()
					c.in.ext.refused("poll_oneoff", peer.String(), c.in.ext.deadlineExceeded())
					event(s, errnoSuccess, 0)
				}
			}
		}
		if n == 0 && !deadline.IsZero() && !time.Now().Before(deadline) {
			for i := range subs {
				if s := &subs[i]; s.tag == tagClock && !time.Now().Before(s.deadline) {
					event(s, errnoSuccess, 0)
				}
			}
		}
		if n > 0 {
			c.m.putU32(c.p[3], n)
			return c.m.errno()
		}
		if !deadline.IsZero() {
			if timer == nil {
				timer = time.NewTimer(time.Until(deadline))
			}
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)})
		}
		if chosen, _, _ := reflect.Select(cases); chosen == 0 {
			return toErrno(c.ctx.Err())
		}
	}
}
