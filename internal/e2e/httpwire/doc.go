// Package httpwire tests the gateway from outside with raw sockets: each test
// writes exact bytes to a real gateway (gateway.Run on a loopback port) and
// checks both the answer the client gets and the bytes the upstream
// received, recorded below the upstream's HTTP server. The package has no
// code of its own beyond the harness in harness_test.go.
package httpwire
