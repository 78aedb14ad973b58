//go:build !wasip1

package wasinet

import (
	"context"
	"errors"
	"net"
	"time"
)

// ErrNotWasm is returned outside a wasip1 build: the socket functions exist
// only in a plugin running in Heimdall (or WasmEdge). Natively, plugin code
// that dials compiles, so its other logic can be unit-tested with the host
// emulator, and every dial fails with this error.
var ErrNotWasm = errors.New("wasinet: sockets are only available in a GOOS=wasip1 plugin")

// Dialer dials through the host's socket functions in a wasip1 build.
type Dialer struct {
	// Timeout bounds the connect; zero means none.
	Timeout time.Duration
}

// DialContext fails with ErrNotWasm outside wasip1.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return nil, &net.OpError{Op: "dial", Net: network, Err: ErrNotWasm}
}

// LookupHost fails with ErrNotWasm outside wasip1.
func LookupHost(ctx context.Context, host string) ([]string, error) {
	return nil, &net.DNSError{Err: ErrNotWasm.Error(), Name: host}
}
