// Package egress is a plugin's outbound network policy, enforced in one
// place for every way a plugin reaches the network: the WasmEdge socket
// functions (internal/wasm/sockets), the native Redis ABI and
// proxy_http_call (internal/wasm/host), and the gRPC calls to come.
//
// A Checker is compiled once per plugin from its `network:` section
// (FromConfig, New) and shared by those paths. It answers four questions:
//
//   - Check / MayReach: may this resolved address (and port) be used?
//   - Upstream: may the plugin call this named upstream (an apisix.yaml
//     upstream id, Envoy's cluster)? Every one unless network.upstreams
//     lists the allowed ones.
//   - Precheck / Resolve: may this literal host:port be used? Precheck
//     decides what needs no I/O; Resolve looks a name up once and checks
//     every address.
//   - Dial: connect to a literal host:port, dialling only the addresses
//     Resolve checked (never resolving again, so DNS rebinding cannot get a
//     denied address dialled).
//
// Every refusal is logged once per operation, destination and reason (a
// bounded set) and counted per operation (Refusals). See RATIONALE.md.
package egress
