// Package config loads and validates Heimdall's two APISIX-compatible
// configuration files: config.yaml (listeners, logging, deployment mode, the
// wasm plugins and Heimdall's own knobs) and apisix.yaml (standalone routes,
// upstreams, services, plugin configs and stream routes; TCP listeners are
// config.yaml apisix.stream_proxy). The same decoders check single
// objects stored elsewhere (etcd values, Admin API bodies; objects.go),
// with the object's key in place of file:line.
//
// Decoding is strict: unknown fields, wrong types and bad values are errors.
// Every problem is reported, not just the first, as an Errors value whose
// lines read
//
//	conf/apisix.yaml:12:7: routes[1].upstream.type: unknown balancer "rr"; allowed: roundrobin, chash
//
// The returned Main and Routes are fully defaulted and cross-checked (route
// plugins exist, upstream ids resolve, durations are time.Duration) and are
// never modified afterwards, so they can be shared between goroutines.
//
// apisix.yaml is only accepted when its last non-empty line is "#END"
// (the APISIX standalone rule); otherwise the error matches ErrIncomplete.
//
// The package does no I/O beyond reading the two files: it does not open
// wasm files, certificates or listeners.
package config
