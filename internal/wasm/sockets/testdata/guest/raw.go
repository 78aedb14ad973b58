//go:build wasip1

package main

import (
	"encoding/binary"
	"fmt"
	"time"
	"unsafe"
)

// Raw WasmEdge calls, as a non-blocking guest (stealthrocket/net style)
// makes them: V2 signatures chosen by parameter count (sock_accept with 3
// parameters, sock_recv_from with 8) and by name (sock_getlocaladdr_v2).

//go:wasmimport wasi_snapshot_preview1 sock_open
func rawOpen(af, socktype uint32, fd unsafe.Pointer) uint32

//go:wasmimport wasi_snapshot_preview1 sock_bind
func rawBind(fd uint32, addr unsafe.Pointer, port uint32) uint32

//go:wasmimport wasi_snapshot_preview1 sock_listen
func rawListen(fd, backlog uint32) uint32

//go:wasmimport wasi_snapshot_preview1 sock_connect
func rawConnect(fd uint32, addr unsafe.Pointer, port uint32) uint32

//go:wasmimport wasi_snapshot_preview1 sock_accept
func rawAccept(fd, flags uint32, newFD unsafe.Pointer) uint32

//go:wasmimport wasi_snapshot_preview1 sock_getlocaladdr_v2
func rawLocalAddrV2(fd uint32, addr, port unsafe.Pointer) uint32

//go:wasmimport wasi_snapshot_preview1 sock_recv_from
func rawRecvFrom(fd uint32, iovs unsafe.Pointer, iovsLen uint32, addr unsafe.Pointer, riflags uint32, port, n, roflags unsafe.Pointer) uint32

//go:wasmimport wasi_snapshot_preview1 sock_send
func rawSend(fd uint32, iovs unsafe.Pointer, iovsLen, siflags uint32, n unsafe.Pointer) uint32

//go:wasmimport wasi_snapshot_preview1 sock_getsockopt
func rawGetsockopt(fd, level, name uint32, val, valLen unsafe.Pointer) uint32

//go:wasmimport wasi_snapshot_preview1 fd_fdstat_set_flags
func rawSetFlags(fd, flags uint32) uint32

//go:wasmimport wasi_snapshot_preview1 fd_read
func rawRead(fd uint32, iovs unsafe.Pointer, iovsLen uint32, n unsafe.Pointer) uint32

//go:wasmimport wasi_snapshot_preview1 fd_write
func rawWrite(fd uint32, iovs unsafe.Pointer, iovsLen uint32, n unsafe.Pointer) uint32

//go:wasmimport wasi_snapshot_preview1 fd_close
func rawClose(fd uint32) uint32

//go:wasmimport wasi_snapshot_preview1 poll_oneoff
func rawPoll(in, out unsafe.Pointer, nsubs uint32, nevents unsafe.Pointer) uint32

type rawAddr struct{ buf, len uint32 }
type rawIovec struct{ buf, len uint32 }

func p32[T any](p *T) uint32 { return uint32(uintptr(unsafe.Pointer(p))) }

// pollOne waits for one fd event (tag 1 read, 2 write) for at most 5s.
func pollOne(fd uint32, tag byte) (uint16, error) {
	var subs [2][48]byte
	subs[0][8] = tag
	binary.LittleEndian.PutUint32(subs[0][16:], fd)
	binary.LittleEndian.PutUint64(subs[1][0:], 99)
	subs[1][8] = 0 // clock
	binary.LittleEndian.PutUint32(subs[1][16:], 1)
	binary.LittleEndian.PutUint64(subs[1][24:], uint64(5*time.Second))
	var events [2][32]byte
	var n uint32
	if e := rawPoll(unsafe.Pointer(&subs), unsafe.Pointer(&events), 2, unsafe.Pointer(&n)); e != 0 {
		return 0, fmt.Errorf("poll_oneoff errno %d", e)
	}
	if n != 1 || binary.LittleEndian.Uint64(events[0][:]) == 99 {
		return 0, fmt.Errorf("poll_oneoff: %d events, first userdata %d", n, binary.LittleEndian.Uint64(events[0][:]))
	}
	return binary.LittleEndian.Uint16(events[0][8:]), nil
}

func rawScenario(string) {
	if err := rawRun(); err != nil {
		fmt.Println("error:", err)
	}
}

func rawRun() error {
	fmt.Println("stdout works")
	time.Sleep(10 * time.Millisecond)

	ip := [4]byte{127, 0, 0, 1}
	a := rawAddr{p32(&ip[0]), 4}
	var ln, cl, ac uint32
	if e := rawOpen(1, 2, unsafe.Pointer(&ln)); e != 0 {
		return fmt.Errorf("sock_open errno %d", e)
	}
	if e := rawBind(ln, unsafe.Pointer(&a), 0); e != 0 {
		return fmt.Errorf("sock_bind errno %d", e)
	}
	if e := rawListen(ln, 4); e != 0 {
		return fmt.Errorf("sock_listen errno %d", e)
	}
	var buf128 [128]byte
	la := rawAddr{p32(&buf128[0]), 128}
	var port uint32
	if e := rawLocalAddrV2(ln, unsafe.Pointer(&la), unsafe.Pointer(&port)); e != 0 {
		return fmt.Errorf("sock_getlocaladdr_v2 errno %d", e)
	}
	if fam := binary.LittleEndian.Uint16(buf128[:]); fam != 1 || buf128[2] != 127 || port == 0 {
		return fmt.Errorf("sock_getlocaladdr_v2: family %d ip %v port %d", fam, buf128[2:6], port)
	}

	if e := rawOpen(1, 2, unsafe.Pointer(&cl)); e != 0 {
		return fmt.Errorf("sock_open errno %d", e)
	}
	if e := rawSetFlags(cl, 4); e != 0 {
		return fmt.Errorf("fd_fdstat_set_flags errno %d", e)
	}
	if e := rawConnect(cl, unsafe.Pointer(&a), port); e != 26 {
		return fmt.Errorf("non-blocking sock_connect: errno %d, want 26 (EINPROGRESS)", e)
	}
	if e, err := pollOne(cl, 2); err != nil || e != 0 {
		return fmt.Errorf("poll for connect: %v errno %d", err, e)
	}
	var soErr, soLen uint32 = 99, 4
	if e := rawGetsockopt(cl, 0, 2, unsafe.Pointer(&soErr), unsafe.Pointer(&soLen)); e != 0 || soErr != 0 {
		return fmt.Errorf("SO_ERROR: errno %d value %d", e, soErr)
	}
	if e := rawAccept(ln, 0, unsafe.Pointer(&ac)); e != 0 {
		return fmt.Errorf("sock_accept errno %d", e)
	}

	ping := []byte("ping")
	iov := rawIovec{p32(&ping[0]), 4}
	var n uint32
	if e := rawWrite(cl, unsafe.Pointer(&iov), 1, unsafe.Pointer(&n)); e != 0 || n != 4 {
		return fmt.Errorf("fd_write to socket: errno %d n %d", e, n)
	}
	if e, err := pollOne(ac, 1); err != nil || e != 0 {
		return fmt.Errorf("poll for ping: %v errno %d", err, e)
	}
	got := make([]byte, 16)
	riov := rawIovec{p32(&got[0]), 16}
	var from [128]byte
	fa := rawAddr{p32(&from[0]), 128}
	var fromPort uint32
	var ro uint16
	if e := rawRecvFrom(ac, unsafe.Pointer(&riov), 1, unsafe.Pointer(&fa), 0, unsafe.Pointer(&fromPort), unsafe.Pointer(&n), unsafe.Pointer(&ro)); e != 0 {
		return fmt.Errorf("sock_recv_from errno %d", e)
	}
	if string(got[:n]) != "ping" || fromPort == 0 || from[2] != 127 {
		return fmt.Errorf("sock_recv_from: %q from %v:%d", got[:n], from[2:6], fromPort)
	}

	if e := rawRead(cl, unsafe.Pointer(&riov), 1, unsafe.Pointer(&n)); e != 6 {
		return fmt.Errorf("non-blocking fd_read with no data: errno %d, want 6 (EAGAIN)", e)
	}
	pong := []byte("pong")
	siov := rawIovec{p32(&pong[0]), 4}
	if e := rawSend(ac, unsafe.Pointer(&siov), 1, 0, unsafe.Pointer(&n)); e != 0 {
		return fmt.Errorf("sock_send errno %d", e)
	}
	if e, err := pollOne(cl, 1); err != nil || e != 0 {
		return fmt.Errorf("poll for pong: %v errno %d", err, e)
	}
	if e := rawRead(cl, unsafe.Pointer(&riov), 1, unsafe.Pointer(&n)); e != 0 || string(got[:n]) != "pong" {
		return fmt.Errorf("fd_read: errno %d %q", e, got[:n])
	}
	for _, fd := range []uint32{ac, cl, ln} {
		if e := rawClose(fd); e != 0 {
			return fmt.Errorf("fd_close errno %d", e)
		}
	}
	if e := rawClose(cl); e != 8 {
		return fmt.Errorf("second fd_close: errno %d, want 8 (EBADF)", e)
	}
	fmt.Println("raw ok: ping pong")
	return nil
}
