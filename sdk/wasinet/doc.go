// Package wasinet gives Go plugins (GOOS=wasip1) TCP and UDP connections
// and name resolution through the WasmEdge socket functions that the
// gateway's host provides (package internal/wasm/sockets), so that standard
// clients work inside a plugin:
//
//	var d wasinet.Dialer
//	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
//	rdb := redis.NewClient(&redis.Options{Addr: "10.0.0.5:6379", Dialer: d.DialContext})
//
// TCP connections are non-blocking descriptors handed to Go's own poller
// (net.FileConn): reads and writes use fd_read / fd_write and waits use
// poll_oneoff, so a goroutine waiting for data (net/http's read loop) does
// not stall the others in the single-threaded wasip1 runtime, and
// deadlines (SetDeadline, the context) are the runtime's own timers.
// Connecting, UDP and lookups block in the host; their deadlines (the
// context, Dialer.Timeout, Conn.SetDeadline for UDP) reach the host as
// SO_SNDTIMEO / SO_RCVTIMEO and a timed-out call fails with an error whose
// Timeout() is true. The host adds the plugin's policy deadline on top
// (ETIMEDOUT).
//
// What the plugin may reach is decided by the host's policy, not here; a
// refused destination fails with EACCES.
package wasinet
