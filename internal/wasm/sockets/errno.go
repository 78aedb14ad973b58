package sockets

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// errno is a WASI preview1 error number (WasmEdge adds the getaddrinfo
// errors from 77 on).
type errno uint32

const (
	errnoSuccess      errno = 0
	errnoAcces        errno = 2
	errnoAddrinuse    errno = 3
	errnoAddrnotavail errno = 4
	errnoAfnosupport  errno = 5
	errnoAgain        errno = 6
	errnoAlready      errno = 7
	errnoBadf         errno = 8
	errnoCanceled     errno = 11
	errnoConnaborted  errno = 13
	errnoConnrefused  errno = 14
	errnoConnreset    errno = 15
	errnoDestaddrreq  errno = 17
	errnoDquot        errno = 19
	errnoFault        errno = 21
	errnoHostunreach  errno = 23
	errnoInprogress   errno = 26
	errnoIntr         errno = 27
	errnoInval        errno = 28
	errnoIo           errno = 29
	errnoIsconn       errno = 30
	errnoMfile        errno = 33
	errnoMsgsize      errno = 35
	errnoNetdown      errno = 38
	errnoNetunreach   errno = 40
	errnoNobufs       errno = 42
	errnoNoprotoopt   errno = 50
	errnoNotconn      errno = 53
	errnoNotsock      errno = 57
	errnoNotsup       errno = 58
	errnoPipe         errno = 64
	errnoProtonosup   errno = 66
	errnoTimedout     errno = 73

	errnoAIBadflag  errno = 79
	errnoAIFail     errno = 80
	errnoAIFamily   errno = 81
	errnoAIMemory   errno = 82
	errnoAINodata   errno = 83
	errnoAINoname   errno = 84
	errnoAIService  errno = 85
	errnoAISocktype errno = 86
)

// errQuota marks a socket whose byte budget is spent.
var errQuota = errors.New("socket byte limit reached")

// toErrno maps an error from the net package to a WASI errno.
func toErrno(err error) errno {
	switch {
	case err == nil:
		return errnoSuccess
	case errors.Is(err, errQuota):
		return errnoDquot
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return errnoTimedout
	case errors.Is(err, context.Canceled):
		return errnoCanceled
	case errors.Is(err, net.ErrClosed):
		return errnoBadf
	case errors.Is(err, io.EOF):
		return errnoSuccess
	}
	var se syscall.Errno
	if errors.As(err, &se) {
		switch se {
		case syscall.ECONNREFUSED:
			return errnoConnrefused
		case syscall.ECONNRESET:
			return errnoConnreset
		case syscall.ECONNABORTED:
			return errnoConnaborted
		case syscall.ETIMEDOUT:
			return errnoTimedout
		case syscall.EHOSTUNREACH:
			return errnoHostunreach
		case syscall.ENETUNREACH:
			return errnoNetunreach
		case syscall.ENETDOWN:
			return errnoNetdown
		case syscall.EADDRINUSE:
			return errnoAddrinuse
		case syscall.EADDRNOTAVAIL:
			return errnoAddrnotavail
		case syscall.EPIPE:
			return errnoPipe
		case syscall.EACCES, syscall.EPERM:
			return errnoAcces
		case syscall.EMSGSIZE:
			return errnoMsgsize
		case syscall.EAFNOSUPPORT:
			return errnoAfnosupport
		}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		switch {
		case dnsErr.IsNotFound:
			return errnoAINoname
		case dnsErr.IsTimeout:
			return errnoTimedout
		default:
			return errnoAIFail
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errnoTimedout
	}
	return errnoIo
}
