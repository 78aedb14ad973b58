package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// The report's counters come from readMetrics: labelled series are summed
// per name, and heimdall_wasm_* kept per plugin (the connection gauge per
// state).
func TestReadMetrics(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`# HELP go_goroutines x
# TYPE go_goroutines gauge
go_goroutines 42
heimdall_wasm_traps_total{plugin="misbehave"} 3
heimdall_wasm_traps_total{plugin="misbehave_open"} 4
heimdall_wasm_memory_bytes{plugin="misbehave",slot="0"} 1024
heimdall_wasm_memory_bytes{plugin="misbehave",slot="1"} 2048
apisix_nginx_http_current_connections{state="active"} 5
apisix_nginx_http_current_connections{state="accepted"} 90
`))
	}))
	defer srv.Close()
	m := readMetrics(srv.URL)
	for k, want := range map[string]float64{
		"go_goroutines":                                   42,
		"heimdall_wasm_traps_total":                       7,
		"heimdall_wasm_traps_total{misbehave}":            3,
		"heimdall_wasm_traps_total{misbehave_open}":       4,
		"heimdall_wasm_memory_bytes{misbehave}":           3072,
		"apisix_nginx_http_current_connections{active}":   5,
		"apisix_nginx_http_current_connections{accepted}": 90,
	} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
}

func TestFlat(t *testing.T) {
	if !flat(100, 109, 0.10, 0) || flat(100, 111, 0.10, 0) || !flat(20, 30, 0, 10) || flat(20, 31, 0, 10) {
		t.Error("flat: wrong tolerance arithmetic")
	}
}
