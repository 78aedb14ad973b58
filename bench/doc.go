// Package bench holds Heimdall's benchmarks. It has no API: the Go
// microbenchmarks are in its _test.go files (make bench-micro), and the
// side-by-side harness against nginx is the command bench/cmd/sidebyside
// (make bench), and the soak (bin/heimdall under long mixed traffic with a
// failing plugin: RSS, goroutines, fds) is bench/cmd/soak (make soak).
// BENCHMARKS.md at the module root explains them and records the results;
// bench/results keeps each harness report.
//
// The microbenchmarks drive filter.Chain directly with wasm factories from
// host.Load, so they measure the plugin path without sockets: a request
// through 0, 1 and 3 plugins, a Go plugin that does nothing, a buffering
// plugin on 1 and 64 KiB bodies, each hot host function called from a Go
// guest, a bare guest call, instance checkout, plugin cold start and memory
// per instance; BenchmarkGateway adds the whole gateway over loopback for
// allocations per request. Benchmarks other packages own are not repeated:
// internal/router BenchmarkMatch, internal/proxy BenchmarkProxy and
// BenchmarkProxyHTTP, internal/wasm/host BenchmarkRequest* (the example
// plugins alone), BenchmarkHost* (host functions called from Go) and
// BenchmarkInstanceCreate. BENCHMARKS.md lists them all.
package bench
