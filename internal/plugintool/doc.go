// Package plugintool is the plugin author's toolkit behind `heimdall
// plugin`: inspect a .wasm file (what it imports and exports, whether it
// loads here and elsewhere), run one through the real host offline (with a
// trace of every host call), test it against a table of cases, and
// scaffold a new Go plugin. cmd/heimdall only parses flags and calls it.
//
// It uses the gateway's own components (host, engine, proxy, server), never
// an emulator: what a plugin does under `plugin run` is what it does in
// `heimdall run`. See RATIONALE.md.
package plugintool
