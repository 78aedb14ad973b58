//go:build wasip1

package wasinet

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// The WASI socket functions. Like the standard library's WASI imports they
// are //go:noescape, so the out-parameters stay on the stack: a WASI host
// does not call back into the module during these calls, so the stack
// cannot move under the host. Addresses that travel inside structs (as
// uint32) must be taken right before the call, with no call in between: a
// call may grow, and so move, the stack.

//go:wasmimport wasi_snapshot_preview1 sock_open
//go:noescape
func sockOpen(af, socktype uint32, fd unsafe.Pointer) uint32

//go:wasmimport wasi_snapshot_preview1 sock_connect
//go:noescape
func sockConnect(fd uint32, addr unsafe.Pointer, port uint32) uint32

//go:wasmimport wasi_snapshot_preview1 sock_recv
//go:noescape
func sockRecv(fd uint32, iovs unsafe.Pointer, iovsLen, riflags uint32, n, roflags unsafe.Pointer) uint32

//go:wasmimport wasi_snapshot_preview1 sock_send
//go:noescape
func sockSend(fd uint32, iovs unsafe.Pointer, iovsLen, siflags uint32, n unsafe.Pointer) uint32

//go:wasmimport wasi_snapshot_preview1 sock_shutdown
func sockShutdown(fd, how uint32) uint32

//go:wasmimport wasi_snapshot_preview1 sock_setsockopt
//go:noescape
func sockSetsockopt(fd, level, name uint32, val unsafe.Pointer, valLen uint32) uint32

//go:wasmimport wasi_snapshot_preview1 sock_getlocaladdr
//go:noescape
func sockGetlocaladdr(fd uint32, addr, addrType, port unsafe.Pointer) uint32

//go:wasmimport wasi_snapshot_preview1 sock_getaddrinfo
//go:noescape
func sockGetaddrinfo(node unsafe.Pointer, nodeLen uint32, svc unsafe.Pointer, svcLen uint32, hints, res unsafe.Pointer, max uint32, n unsafe.Pointer) uint32

//go:wasmimport wasi_snapshot_preview1 fd_close
func fdClose(fd uint32) uint32

const (
	afInet4    = 1
	afInet6    = 2
	sockDgram  = 1
	sockStream = 2
	soRcvtimeo = 11
	soSndtimeo = 12
	errnoAgain = 6
	errnoIntr  = 27
)

// addr is the WasmEdge address argument {buf, buf_len}.
type addr struct {
	buf uint32
	len uint32
}

type iovec struct {
	buf uint32
	len uint32
}

func ptr32[T any](p *T) uint32 { return uint32(uintptr(unsafe.Pointer(p))) }

func errnoErr(e uint32) error {
	if e == 0 {
		return nil
	}
	return syscall.Errno(e)
}

// Dialer opens connections through the host. The zero value is ready to use.
type Dialer struct {
	// Timeout bounds connecting (with the context's deadline, if earlier).
	Timeout time.Duration
}

// DialContext connects to address on network "tcp", "tcp4", "tcp6", "udp",
// "udp4" or "udp6". Names are resolved with LookupHost and tried in order.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: network, Err: err}
	}
	stype := uint32(sockStream)
	switch network {
	case "tcp", "tcp4", "tcp6":
	case "udp", "udp4", "udp6":
		stype = sockDgram
	default:
		return nil, opErr(net.UnknownNetworkError(network))
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, opErr(err)
	}
	port, err := lookupPort(portStr)
	if err != nil {
		return nil, opErr(err)
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip.Unmap()}
	} else {
		names, err := LookupHost(ctx, host)
		if err != nil {
			return nil, opErr(err)
		}
		for _, n := range names {
			ips = append(ips, netip.MustParseAddr(n))
		}
	}
	deadline, hasDeadline := ctx.Deadline()
	if d.Timeout > 0 {
		if t := time.Now().Add(d.Timeout); !hasDeadline || t.Before(deadline) {
			deadline, hasDeadline = t, true
		}
	}
	var firstErr error
	for _, ip := range ips {
		if network[len(network)-1] == '4' && !ip.Is4() || network[len(network)-1] == '6' && !ip.Is6() {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, opErr(err)
		}
		c, err := dial(stype, netip.AddrPortFrom(ip, port), deadline)
		if err == nil {
			return c, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("no suitable address for %s", host)
	}
	return nil, opErr(firstErr)
}

func lookupPort(s string) (uint16, error) {
	if n, err := strconv.ParseUint(s, 10, 16); err == nil {
		return uint16(n), nil
	}
	switch s {
	case "http":
		return 80, nil
	case "https":
		return 443, nil
	case "redis":
		return 6379, nil
	}
	return 0, fmt.Errorf("unknown port %q", s)
}

func dial(stype uint32, ap netip.AddrPort, deadline time.Time) (net.Conn, error) {
	af := uint32(afInet4)
	if ap.Addr().Is6() {
		af = afInet6
	}
	var fd uint32
	if e := sockOpen(af, stype, unsafe.Pointer(&fd)); e != 0 {
		return nil, os.NewSyscallError("sock_open", errnoErr(e))
	}
	c := &Conn{fd: fd, stream: stype == sockStream}
	if !deadline.IsZero() {
		if err := c.setTimeout(soSndtimeo, time.Until(deadline)); err != nil {
			c.Close()
			return nil, err
		}
	}
	ip := ap.Addr().AsSlice()
	a := addr{buf: uint32(uintptr(unsafe.Pointer(&ip[0]))), len: uint32(len(ip))}
	e := sockConnect(fd, unsafe.Pointer(&a), uint32(ap.Port()))
	runtime.KeepAlive(ip)
	if e != 0 {
		c.Close()
		if e == errnoAgain {
			return nil, os.ErrDeadlineExceeded
		}
		return nil, os.NewSyscallError("sock_connect", errnoErr(e))
	}
	netw := "tcp"
	if !c.stream {
		netw = "udp"
	}
	c.raddr = sockAddr(netw, ap)
	c.laddr = c.localAddr(netw)
	if !c.stream {
		return c, nil
	}
	// Streams go to Go's own poller: a non-blocking descriptor read with
	// fd_read and waited for with poll_oneoff, so that one goroutine waiting
	// for data (net/http's read loop) does not stall the others.
	if err := syscall.SetNonblock(int(fd), true); err != nil {
		c.Close()
		return nil, os.NewSyscallError("fd_fdstat_set_flags", err)
	}
	f := os.NewFile(uintptr(fd), "socket")
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		c.Close()
		return nil, err
	}
	return &streamConn{Conn: nc, laddr: c.laddr, raddr: c.raddr}, nil
}

// streamConn is a TCP connection served by Go's poller; it knows its
// addresses, which net.FileConn cannot learn on wasip1.
type streamConn struct {
	net.Conn
	laddr, raddr net.Addr
}

func (c *streamConn) LocalAddr() net.Addr  { return c.laddr }
func (c *streamConn) RemoteAddr() net.Addr { return c.raddr }

// LookupHost resolves host through sock_getaddrinfo and returns its
// addresses as strings, like net.LookupHost.
func LookupHost(ctx context.Context, host string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return []string{ip.String()}, nil
	}
	if host == "" {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	const max = 16
	type addrinfo struct {
		flags    uint16
		family   uint8
		socktype uint8
		protocol uint32
		addrlen  uint32
		addr     uint32
		canon    uint32
		canonLen uint32
		next     uint32
	}
	type sockaddr struct {
		family  uint16
		_       uint16
		dataLen uint32
		data    uint32
	}
	name := []byte(host)
	var (
		infos [max]addrinfo
		sas   [max]sockaddr
		bufs  [max][26]byte
	)
	// From here to the call: no function calls (see the imports).
	for i := range infos {
		sas[i] = sockaddr{dataLen: uint32(len(bufs[i])), data: ptr32(&bufs[i][0])}
		infos[i].addr = ptr32(&sas[i])
		if i+1 < max {
			infos[i].next = ptr32(&infos[i+1])
		}
	}
	hints := addrinfo{socktype: sockStream}
	res := ptr32(&infos[0])
	var n uint32
	e := sockGetaddrinfo(unsafe.Pointer(&name[0]), uint32(len(name)), nil, 0,
		unsafe.Pointer(&hints), unsafe.Pointer(&res), max, unsafe.Pointer(&n))
	runtime.KeepAlive(name)
	runtime.KeepAlive(&infos)
	runtime.KeepAlive(&sas)
	runtime.KeepAlive(&bufs)
	if e != 0 {
		dnsErr := &net.DNSError{Err: syscall.Errno(e).Error(), Name: host}
		switch e {
		case 83, 84: // AINODATA, AINONAME
			dnsErr.Err, dnsErr.IsNotFound = "no such host", true
		case 73:
			dnsErr.IsTimeout = true
		}
		return nil, dnsErr
	}
	var out []string
	for i := uint32(0); i < n && i < max; i++ {
		b := bufs[i][:]
		switch {
		case sas[i].family == afInet4 && infos[i].addrlen >= 6:
			out = append(out, netip.AddrFrom4([4]byte(b[2:6])).String())
		case sas[i].family == afInet6 && infos[i].addrlen >= 18:
			out = append(out, netip.AddrFrom16([16]byte(b[2:18])).String())
		}
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

func sockAddr(network string, ap netip.AddrPort) net.Addr {
	if network == "udp" {
		return net.UDPAddrFromAddrPort(ap)
	}
	return net.TCPAddrFromAddrPort(ap)
}

// Conn is a connection over a host socket. It implements net.Conn.
type Conn struct {
	fd           uint32
	stream       bool
	laddr, raddr net.Addr
	closed       bool
	readDL       time.Time
	writeDL      time.Time
	// timeouts last given to the host, to skip redundant calls.
	rcvTimeo, sndTimeo time.Duration
}

func (c *Conn) localAddr(network string) net.Addr {
	var buf [16]byte
	a := addr{buf: ptr32(&buf[0]), len: 16}
	var typ, port uint32
	if e := sockGetlocaladdr(c.fd, unsafe.Pointer(&a), unsafe.Pointer(&typ), unsafe.Pointer(&port)); e != 0 {
		return sockAddr(network, netip.AddrPort{})
	}
	runtime.KeepAlive(&buf)
	ip := netip.AddrFrom16(buf).Unmap()
	if typ == 4 {
		ip = netip.AddrFrom4([4]byte(buf[:4]))
	}
	return sockAddr(network, netip.AddrPortFrom(ip, uint16(port)))
}

// setTimeout passes a timeout (SO_RCVTIMEO or SO_SNDTIMEO) to the host as a
// timeval of two int64; 0 means none.
func (c *Conn) setTimeout(name uint32, d time.Duration) error {
	if d < 0 {
		return os.ErrDeadlineExceeded
	}
	if d > 0 && d < time.Microsecond {
		d = time.Microsecond
	}
	tv := [2]int64{int64(d / time.Second), int64(d % time.Second / time.Microsecond)}
	if e := sockSetsockopt(c.fd, 0, name, unsafe.Pointer(&tv), 16); e != 0 {
		return os.NewSyscallError("sock_setsockopt", errnoErr(e))
	}
	return nil
}

// prepare gives the host the timeout left before deadline.
func (c *Conn) prepare(name uint32, deadline time.Time, last *time.Duration) error {
	var d time.Duration
	if !deadline.IsZero() {
		d = time.Until(deadline)
		if d <= 0 {
			return os.ErrDeadlineExceeded
		}
	}
	if d == 0 && *last == 0 {
		return nil
	}
	if err := c.setTimeout(name, d); err != nil {
		return err
	}
	*last = d
	return nil
}

func (c *Conn) opError(op string, err error) error {
	netw := "tcp"
	if !c.stream {
		netw = "udp"
	}
	return &net.OpError{Op: op, Net: netw, Source: c.laddr, Addr: c.raddr, Err: err}
}

// Read implements net.Conn.
func (c *Conn) Read(b []byte) (int, error) {
	if c.closed {
		return 0, c.opError("read", net.ErrClosed)
	}
	if len(b) == 0 {
		return 0, nil
	}
	if err := c.prepare(soRcvtimeo, c.readDL, &c.rcvTimeo); err != nil {
		return 0, c.opError("read", err)
	}
	iov := iovec{buf: ptr32(&b[0]), len: uint32(len(b))}
	var n uint32
	var ro uint16
	for {
		e := sockRecv(c.fd, unsafe.Pointer(&iov), 1, 0, unsafe.Pointer(&n), unsafe.Pointer(&ro))
		runtime.KeepAlive(b)
		switch e {
		case 0:
			if n == 0 && c.stream {
				return 0, io.EOF
			}
			return int(n), nil
		case errnoIntr:
			continue
		case errnoAgain:
			return 0, c.opError("read", os.ErrDeadlineExceeded)
		}
		return 0, c.opError("read", errnoErr(e))
	}
}

// Write implements net.Conn.
func (c *Conn) Write(b []byte) (int, error) {
	if c.closed {
		return 0, c.opError("write", net.ErrClosed)
	}
	if err := c.prepare(soSndtimeo, c.writeDL, &c.sndTimeo); err != nil {
		return 0, c.opError("write", err)
	}
	total := 0
	for total < len(b) {
		iov := iovec{buf: ptr32(&b[total]), len: uint32(len(b) - total)}
		var n uint32
		e := sockSend(c.fd, unsafe.Pointer(&iov), 1, 0, unsafe.Pointer(&n))
		runtime.KeepAlive(b)
		switch e {
		case 0:
			total += int(n)
			if !c.stream {
				return total, nil
			}
			continue
		case errnoIntr:
			continue
		case errnoAgain:
			return total, c.opError("write", os.ErrDeadlineExceeded)
		}
		return total, c.opError("write", errnoErr(e))
	}
	return total, nil
}

// Close implements net.Conn.
func (c *Conn) Close() error {
	if c.closed {
		return c.opError("close", net.ErrClosed)
	}
	c.closed = true
	if e := fdClose(c.fd); e != 0 {
		return c.opError("close", errnoErr(e))
	}
	return nil
}

// CloseWrite shuts down the sending side of a stream.
func (c *Conn) CloseWrite() error {
	if e := sockShutdown(c.fd, 2); e != 0 {
		return c.opError("shutdown", errnoErr(e))
	}
	return nil
}

// LocalAddr implements net.Conn.
func (c *Conn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr implements net.Conn.
func (c *Conn) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline implements net.Conn.
func (c *Conn) SetDeadline(t time.Time) error {
	c.readDL, c.writeDL = t, t
	return nil
}

// SetReadDeadline implements net.Conn.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.readDL = t
	return nil
}

// SetWriteDeadline implements net.Conn.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.writeDL = t
	return nil
}

var _ net.Conn = (*Conn)(nil)
