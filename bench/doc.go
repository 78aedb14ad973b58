// Package bench holds Heimdall's benchmarks. It has no API: the Go
// microbenchmarks are in its _test.go files (make bench-micro), and the
// side-by-side harness against nginx is the command bench/cmd/sidebyside
// (make bench). BENCHMARKS.md at the module root explains both and records
// the results; bench/results keeps each harness report.
//
// The microbenchmarks drive filter.Chain directly with wasm factories from
// host.Load, so they measure the plugin path without sockets: a request
// through 0, 1 and 3 plugins, each hot host function, instance checkout,
// plugin cold start and memory per instance. Router matching is measured by
// internal/router's BenchmarkMatch and not repeated here.
package bench
