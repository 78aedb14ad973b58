package dashboard

import (
	"io"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/config"
)

// TestAuth: with admin keys set, the data endpoints need X-API-KEY (any
// role; a query parameter is not looked at) while the static page loads
// without it (it asks for the key); a peer outside allow_admin gets 403 for
// everything.
func TestAuth(t *testing.T) {
	h := New(Options{
		Keys:  []config.AdminKey{{Name: "viewer", Key: "k-viewer", Role: config.AdminRoleViewer}},
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		State: func() State { return State{Routes: []Route{{ID: "r1"}}} },
	})
	do := func(path, key, peer string) (int, string) {
		r := httptest.NewRequest("GET", path, nil)
		r.RemoteAddr = peer
		if key != "" {
			r.Header.Set("X-API-KEY", key)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	for _, c := range []struct {
		path, key, peer string
		code            int
		body            string
	}{
		{"/ui/", "", "127.0.0.1:1", 200, "<title>Heimdall dashboard</title>"},
		{"/ui/style.css", "", "127.0.0.1:1", 200, ":root"},
		{"/ui/api/state", "", "127.0.0.1:1", 401, "X-API-KEY"},
		{"/ui/api/state", "wrong", "127.0.0.1:1", 401, "X-API-KEY"},
		{"/ui/api/state?api_key=k-viewer", "", "127.0.0.1:1", 401, "X-API-KEY"},
		{"/ui/api/stream", "", "127.0.0.1:1", 401, "X-API-KEY"},
		{"/ui/api/state", "k-viewer", "127.0.0.1:1", 200, `"id":"r1"`},
		{"/ui/api/state", "k-viewer", "192.0.2.1:1", 403, "forbidden"},
		{"/ui/", "", "192.0.2.1:1", 403, "forbidden"},
		{"/", "", "127.0.0.1:1", 302, ""},
		{"/ui/nope.js", "", "127.0.0.1:1", 404, ""},
	} {
		code, body := do(c.path, c.key, c.peer)
		if code != c.code || !strings.Contains(body, c.body) {
			t.Errorf("GET %s key %q from %s: %d %.80q, want %d with %q", c.path, c.key, c.peer, code, body, c.code, c.body)
		}
	}
	r := httptest.NewRequest("GET", "/ui/", nil)
	r.RemoteAddr = "127.0.0.1:1"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if w.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", w.Header().Get("Content-Type"))
	}
}

// TestCloseEndsStreams: Close ends an open stream, so a graceful shutdown
// does not wait for dashboard tabs.
func TestCloseEndsStreams(t *testing.T) {
	h := New(Options{State: func() State { return State{} }, Logs: NewRing(4), Tick: time.Hour})
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/ui/api/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(resp.Body)
		done <- err
	}()
	h.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("stream ended with %v, want a clean end", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stream still open 10s after Close")
	}
}
