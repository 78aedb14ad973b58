package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/heimdallgw/heimdall/internal/tracectx"
)

// TestTraceparent: the upstream (a real httpbin echoing the headers it
// got) sees a valid traceparent passed through unchanged with its
// tracestate, a new valid trace when there was none, and a new trace
// without the tracestate when the traceparent was malformed.
func TestTraceparent(t *testing.T) {
	g := startGateway(t, "", routesYAML("/headers", upstream(t), ""))
	seen := func(tp, ts string) (string, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", g.base+"/headers", nil)
		if tp != "" {
			req.Header.Set("Traceparent", tp)
		}
		if ts != "" {
			req.Header.Set("Tracestate", ts)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var v struct{ Headers map[string][]string }
		if err := json.Unmarshal(b, &v); resp.StatusCode != 200 || err != nil {
			t.Fatalf("%d %q %v", resp.StatusCode, b, err)
		}
		first := func(k string) string {
			if len(v.Headers[k]) != 1 {
				if len(v.Headers[k]) > 1 {
					t.Fatalf("%s sent %d times: %q", k, len(v.Headers[k]), v.Headers[k])
				}
				return ""
			}
			return v.Headers[k][0]
		}
		return first("Traceparent"), first("Tracestate")
	}
	const valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if tp, ts := seen(valid, "vendor=1"); tp != valid || ts != "vendor=1" {
		t.Errorf("valid traceparent: upstream saw %q, %q", tp, ts)
	}
	a, _ := seen("", "")
	b, _ := seen("", "")
	if !tracectx.Valid([]byte(a)) || !tracectx.Valid([]byte(b)) || a[3:35] == b[3:35] {
		t.Errorf("no traceparent: upstream saw %q then %q, want two new traces", a, b)
	}
	if tp, ts := seen("00-zz-bad", "vendor=1"); !tracectx.Valid([]byte(tp)) || ts != "" {
		t.Errorf("malformed traceparent: upstream saw %q, %q", tp, ts)
	}
}
