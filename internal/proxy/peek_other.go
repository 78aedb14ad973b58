//go:build !linux

package proxy

import "net"

// peerClosed is only implemented on Linux; elsewhere a closed pooled
// connection is found by the request that uses it, which is then retried
// (see Stream.forward).
func peerClosed(net.Conn) bool { return false }
