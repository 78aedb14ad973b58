// Package proxy is Heimdall's forwarding engine: it owns upstreams (nodes,
// balancers, keep-alive pools), runs a route's filter chain over the
// engine-neutral request model of package httpcore, and streams request and
// response bodies between the downstream engine and the upstream.
//
// HTTP engines (package server) talk to the proxy through Stream: they fill
// the Exchange of a Stream from their own request, set the request body
// reader, call Proxy.Serve, write Exchange.Resp as the response head and then
// pull the response body by reading the Stream until io.EOF. Close ends the
// stream (log callbacks, access log, release) and is always called once.
//
// Design notes are in RATIONALE.md.
package proxy
