package proxy

import (
	"crypto/tls"
	"net"
	"syscall"
)

// peerClosed reports whether an idle pooled connection can no longer carry a
// request: the upstream closed it (a keep-alive timeout: Node.js closes
// after 5 s, gunicorn after 2 s) or sent bytes nobody asked for. One
// non-blocking MSG_PEEK recv, which neither consumes data nor waits; nginx
// gets the same answer from the read event it keeps armed on cached
// connections. A TLS connection is checked below TLS: any record on an idle
// one (a close_notify) means it is done.
func peerClosed(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var b [1]byte
	closed := false
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case rerr == syscall.EAGAIN || rerr == syscall.EINTR:
			// Nothing to read: the connection is idle and open.
		case rerr != nil, n >= 0:
			// An error (reset), end of stream (n == 0) or unsolicited data.
			closed = true
		}
		return true // never wait for readiness
	})
	return err != nil || closed
}
