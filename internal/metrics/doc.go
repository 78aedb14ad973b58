// Package metrics collects Heimdall's metrics and exports them in the
// Prometheus text format, on a registry of its own (never the process-wide
// default one).
//
// Three families:
//
//   - the APISIX prometheus plugin's metrics (apisix_http_status,
//     apisix_http_latency, apisix_bandwidth, apisix_http_requests_total,
//     apisix_node_info), same names and labels, so existing Grafana
//     dashboards work unchanged; fed by the proxy through one
//     proxy.Observer call per request;
//   - heimdall_wasm_*: what the wasm plugin host keeps about each plugin's
//     instances, read at scrape time by a Collector (no per-request cost);
//   - wasmcustom_*: the metrics plugins define with proxy_define_metric,
//     named by Envoy's convention (see CustomName).
//
// Per-request cost is kept to a few atomic adds: the gateway resolves a
// Route's series once per route table (Metrics.Route), and the Route caches
// the series of each upstream node and status code it has seen, so a
// request does a short slice scan and no map lookup or string building.
//
// Snapshot gives in-process readers (a future dashboard) the live totals
// without parsing the exposition format. Design notes are in RATIONALE.md.
package metrics
