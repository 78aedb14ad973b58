package metrics

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestStatusHandler(t *testing.T) {
	var notReady error = errors.New("routes have not been applied yet")
	h := StatusHandler(func() error { return notReady })
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		b, _ := io.ReadAll(rec.Body)
		return rec.Code, string(b)
	}
	for _, c := range []struct {
		path  string
		ready bool
		code  int
		body  string
	}{
		{"/status", false, 200, `{"status":"ok"}` + "\n"},
		{"/status/ready", false, 503, `{"error":"routes have not been applied yet","status":"error"}` + "\n"},
		{"/status/ready", true, 200, `{"status":"ok"}` + "\n"},
		{"/other", true, 404, "404 page not found\n"},
	} {
		notReady = errors.New("routes have not been applied yet")
		if c.ready {
			notReady = nil
		}
		if code, body := get(c.path); code != c.code || body != c.body {
			t.Errorf("GET %s (ready %v) = %d %q, want %d %q", c.path, c.ready, code, body, c.code, c.body)
		}
	}
}

func TestExportHandler(t *testing.T) {
	h := ExportHandler("/apisix/prometheus/metrics", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "m") //nolint:errcheck
	}))
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/apisix/prometheus/metrics", 200},
		{"GET", "/metrics", 200},
		{"HEAD", "/metrics", 200},
		{"POST", "/metrics", 405},
		{"GET", "/apisix/prometheus", 404},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.code {
			t.Errorf("%s %s = %d, want %d", c.method, c.path, rec.Code, c.code)
		}
	}
}
