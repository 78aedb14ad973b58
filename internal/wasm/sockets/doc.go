// Package sockets gives wasm plugins outbound (and, when allowed, inbound)
// network access through the WasmEdge socket functions of
// wasi_snapshot_preview1 (sock_open, sock_connect, sock_recv, ...), backed by
// real sockets from Go's net package, under a per-plugin capability policy.
//
// An Extension is built once per plugin with New and handed to the plugin
// engine, which calls Export while building the plugin's
// wasi_snapshot_preview1 host module. Socket descriptors live in a high range
// (from FirstFD up) so they never collide with wazero's descriptors; the
// functions that also work on ordinary descriptors (fd_read, fd_write,
// fd_close, fd_fdstat_get, fd_fdstat_set_flags, poll_oneoff, sock_accept,
// sock_recv, sock_send, sock_shutdown) serve socket descriptors here and hand
// every other call to wazero's own implementation unchanged.
//
// See RATIONALE.md for the choices (errno values, deadlines, address checks).
package sockets
