package metrics

import (
	"encoding/json"
	"net/http"
)

// StatusHandler serves APISIX 3.x's status API:
//
//	GET /status        200 {"status":"ok"} while the process serves
//	GET /status/ready  200 {"status":"ok"} once ready() returns nil, else
//	                   503 {"status":"error","error":"<why>"}
//
// Other paths answer 404. ready is called per request and must be cheap.
func StatusHandler(ready func() error) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /status/ready", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			writeStatus(w, http.StatusServiceUnavailable, map[string]string{"status": "error", "error": err.Error()})
			return
		}
		writeStatus(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return mux
}

func writeStatus(w http.ResponseWriter, code int, body map[string]string) {
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n')) //nolint:errcheck // the client went away
}

// ExportHandler serves h (the metrics) at uri and at /metrics, GET and HEAD
// only; other paths answer 404.
func ExportHandler(uri string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != uri && r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}
