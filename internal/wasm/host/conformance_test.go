package host

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heimdallgw/heimdall/internal/filter"
)

func newFactory(t *testing.T, p *Plugin, conf string) filter.Factory {
	t.Helper()
	f, err := p.NewFactory(context.Background(), "r1", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func chunks(s ...string) [][]byte {
	out := make([][]byte, len(s))
	for i := range s {
		out[i] = []byte(s[i])
	}
	return out
}

func TestConformance(t *testing.T) {
	p, logs := loadConformance(t, PluginConfig{PoolSize: 2})
	f := newFactory(t, p, `{"mode":"tick"}`)

	type check func(t *testing.T, x *filter.Exchange, r result)
	reqHdr := func(name, want string) check {
		return func(t *testing.T, x *filter.Exchange, r result) {
			t.Helper()
			if got := hdr(&x.Req.Header, name); got != want {
				t.Errorf("request header %s = %q, want %q", name, got, want)
			}
		}
	}
	reqAbsent := func(name string) check {
		return func(t *testing.T, x *filter.Exchange, r result) {
			if x.Req.Header.Has(name) {
				t.Errorf("request header %s still present", name)
			}
		}
	}
	respHdr := func(name, want string) check {
		return func(t *testing.T, x *filter.Exchange, r result) {
			t.Helper()
			if got := hdr(&x.Resp.Header, name); got != want {
				t.Errorf("response header %s = %q, want %q", name, got, want)
			}
		}
	}
	respAbsent := func(name string) check {
		return func(t *testing.T, x *filter.Exchange, r result) {
			if x.Resp.Header.Has(name) {
				t.Errorf("response header %s still present", name)
			}
		}
	}
	sent := func(want string) check {
		return func(t *testing.T, x *filter.Exchange, r result) {
			t.Helper()
			if string(r.sentBody) != want {
				t.Errorf("upstream got body %q, want %q", r.sentBody, want)
			}
		}
	}
	respBody := func(want string) check {
		return func(t *testing.T, x *filter.Exchange, r result) {
			t.Helper()
			if string(r.respBody) != want {
				t.Errorf("downstream got body %q, want %q", r.respBody, want)
			}
		}
	}
	local := func(status int, body string) check {
		return func(t *testing.T, x *filter.Exchange, r result) {
			t.Helper()
			if r.local == nil {
				t.Fatalf("no local response (err %v)", r.err)
			}
			if r.local.Status != status || (body != "" && string(r.local.Body) != body) {
				t.Errorf("local response %d %q, want %d %q", r.local.Status, r.local.Body, status, body)
			}
		}
	}
	noLocal := func(t *testing.T, x *filter.Exchange, r result) {
		t.Helper()
		if r.err != nil || r.local != nil {
			t.Fatalf("err %v, local %+v", r.err, r.local)
		}
	}
	path := func(want string) check {
		return func(t *testing.T, x *filter.Exchange, r result) {
			if string(x.Req.Path) != want {
				t.Errorf("path = %q, want %q", x.Req.Path, want)
			}
		}
	}

	ok200 := upstream{status: 200, header: []string{"content-type", "text/plain", "x-resp-replace", "old", "x-resp-remove", "1"}, body: chunks("hello")}
	tests := []struct {
		name    string
		ops     string
		method  string
		hdrs    []string
		body    [][]byte
		trailer []string
		up      upstream
		checks  []check
	}{
		{name: "headers without body: eos on headers", ops: "", up: ok200,
			checks: []check{noLocal, reqHdr("x-req-eos", "1"), reqHdr("x-req-count", "5"), respHdr("x-resp-eos", "0"), reqHdr("x-req-body-calls", "")}},
		{name: "request header add/replace/remove", ops: "addreq,replacereq,removereq", hdrs: []string{"x-replace", "old", "x-remove", "1"}, up: ok200,
			checks: []check{noLocal, reqHdr("x-added", "1"), reqHdr("x-replace", "new"), reqAbsent("x-remove")}},
		{name: "response header add/replace/remove", ops: "addresp,replaceresp,removeresp", up: ok200,
			checks: []check{noLocal, respHdr("x-resp-added", "1"), respHdr("x-resp-replace", "new"), respAbsent("x-resp-remove")}},
		{name: "pseudo headers read", ops: "pseudo", method: "POST", up: ok200,
			checks: []check{noLocal, reqHdr("x-pseudo-method", "POST"), reqHdr("x-pseudo-path", "/test?q=1"), reqHdr("x-pseudo-authority", "example.com"), reqHdr("x-pseudo-scheme", "http")}},
		{name: ":path rewrite", ops: "path", up: ok200, checks: []check{noLocal, path("/anything/rewritten?x=1")}},
		{name: "get and set header map pairs", ops: "pairs", hdrs: []string{"a", "1", "b", "2"}, up: ok200,
			checks: []check{noLocal, reqHdr("x-pairs", "9"), reqHdr("a", "1"), reqHdr("b", "2"), path("/test?q=1")}},
		{name: "missing header is NotFound", ops: "missing", up: ok200, checks: []check{noLocal, reqHdr("x-missing-status", "1")}},
		{name: ":status read and write", ops: "status", up: ok200,
			checks: []check{noLocal, respHdr("x-upstream-status", "200"), func(t *testing.T, x *filter.Exchange, r result) {
				if x.Resp.Status != 201 {
					t.Errorf("status %d", x.Resp.Status)
				}
			}}},
		{name: "properties", ops: "props", up: ok200, checks: []check{noLocal,
			reqHdr("x-prop-request-path", "/test?q=1|0"), reqHdr("x-prop-request-url_path", "/test|0"),
			reqHdr("x-prop-request-host", "example.com|0"), reqHdr("x-prop-request-method", "GET|0"),
			reqHdr("x-prop-request-scheme", "http|0"), reqHdr("x-prop-request-protocol", "HTTP/1.1|0"),
			reqHdr("x-prop-request-id", "req-1|0"), reqHdr("x-prop-source-address", "192.0.2.1:5555|0"),
			reqHdr("x-prop-source-port", "5555"), reqHdr("x-prop-destination-address", "127.0.0.1:9080|0"),
			reqHdr("x-prop-plugin_name", "conformance|0"), reqHdr("x-prop-plugin_root_id", "conformance|0"),
			reqHdr("x-prop-route_name", "r1|0"), reqHdr("x-prop-cluster_name", "u1|0"),
			reqHdr("x-prop-unknown", "1"), reqHdr("x-prop-mine", "mine"),
			func(t *testing.T, x *filter.Exchange, r result) {
				if v, _ := x.Property("my.prop"); string(v) != "mine" {
					t.Errorf("Exchange property my.prop = %q", v)
				}
			}}},
		{name: "response.code property", ops: "respprops", up: ok200, checks: []check{noLocal, respHdr("x-prop-response-code", "200")}},
		// compress/uncompress as Envoy's foreign functions: the compressed
		// bytes are a zlib stream Go's reader inflates to the input, the
		// round trip gives the input back, garbage → SerializationFailure
		// (3), an unknown name → NotFound (1).
		{name: "foreign functions", ops: "foreign", hdrs: []string{"x-ff-in", "hello hello hello hello"}, up: ok200,
			checks: []check{noLocal, reqHdr("x-ff", "0,0,3,1"), reqHdr("x-ff-state", "0,v1"), reqHdr("x-ff-out", "hello hello hello hello"),
				func(t *testing.T, x *filter.Exchange, r result) {
					c, err := hex.DecodeString(hdr(&x.Req.Header, "x-ff-compressed"))
					if err != nil {
						t.Fatal(err)
					}
					zr, err := zlib.NewReader(bytes.NewReader(c))
					if err != nil {
						t.Fatalf("compressed is not zlib: %v", err)
					}
					b, err := io.ReadAll(zr)
					if err != nil || string(b) != "hello hello hello hello" {
						t.Fatalf("inflated = %q, %v", b, err)
					}
				}}},
		{name: "time, log level, shared data, metrics, unimplemented", ops: "time,loglevel,shared,metrics,unimpl", up: ok200,
			checks: []check{noLocal, reqHdr("x-log-level", "1"), reqHdr("x-shared", "0,0,1,8,0"), reqHdr("x-metric", "2"), reqHdr("x-unimpl", "12"),
				func(t *testing.T, x *filter.Exchange, r result) {
					if v := hdr(&x.Req.Header, "x-time"); len(v) < 10 {
						t.Errorf("x-time = %q", v)
					}
				}}},
		{name: "bad guest pointers return InvalidMemoryAccess (no body in headers: NotFound)", ops: "badptr", body: chunks("abc"), up: ok200,
			checks: []check{noLocal, reqHdr("x-badptr", "6,6,6,1"), sent("abc")}},
		{name: "local response from request headers", ops: "local", up: ok200,
			checks: []check{local(403, "denied by plugin"), func(t *testing.T, x *filter.Exchange, r result) {
				if r.reachedResp {
					t.Error("upstream was reached")
				}
				if got := hdr(&r.local.Header, "x-local"); got != "yes" {
					t.Errorf("x-local = %q", got)
				}
			}}},
		{name: "local response from request body", ops: "reqbuffer,reqbodylocal", method: "POST", body: chunks("ab", "cd"), up: ok200,
			checks: []check{local(413, "body seen: abcd")}},
		{name: "local response from response headers", ops: "resplocal", up: ok200, checks: []check{local(418, "teapot")}},
		{name: "local response from response body", ops: "respbuffer,respbodylocal", up: upstream{status: 200, body: chunks("x", "y")},
			checks: []check{local(413, "body seen: xy")}},
		{name: "request body chunks, one callback each", ops: "", method: "POST", body: chunks("aaa", "bb", "c"), up: ok200,
			checks: []check{noLocal, sent("aaabbc"), respHdr("x-req-body-calls", "3:0 2:0 1:1"), reqHdr("x-req-eos", "0")}},
		{name: "request body buffered with Pause", ops: "reqbuffer", method: "POST", body: chunks("aaa", "bb", "c"), up: ok200,
			checks: []check{noLocal, sent("aaabbc"), respHdr("x-req-body-calls", "3:0 5:0 6:1")}},
		{name: "request body append", ops: "reqbuffer,reqappend", method: "POST", body: chunks("ab", "c"), up: ok200,
			checks: []check{noLocal, sent("abc[appended]")}},
		{name: "request body prepend", ops: "reqbuffer,reqprepend", method: "POST", body: chunks("ab", "c"), up: ok200,
			checks: []check{noLocal, sent("[prepended]abc")}},
		{name: "request body replace", ops: "reqbuffer,reqreplace", method: "POST", body: chunks("ab", "c"), up: ok200,
			checks: []check{noLocal, sent("replaced(abc)")}},
		{name: "request body rewritten per chunk", ops: "requpper", method: "POST", body: chunks("ab", "cd"), up: ok200,
			checks: []check{noLocal, sent("ABCD")}},
		{name: "response body append", ops: "respbuffer,respappend", up: upstream{status: 200, body: chunks("he", "llo")},
			checks: []check{noLocal, respBody("hello[appended]")}},
		{name: "response body prepend", ops: "respbuffer,respprepend", up: upstream{status: 200, body: chunks("he", "llo")},
			checks: []check{noLocal, respBody("[prepended]hello")}},
		{name: "response body replace", ops: "respbuffer,respreplace", up: upstream{status: 200, body: chunks("he", "llo")},
			checks: []check{noLocal, respBody("replaced(hello)")}},
		{name: "response body chunks streamed", ops: "respupper", up: upstream{status: 200, body: chunks("a", "b", "c")},
			checks: []check{noLocal, respBody("ABC")}},
		{name: "trailers", ops: "trailers", method: "POST", body: chunks("x"), trailer: []string{"x-trailer", "t1"},
			up: upstream{status: 200, body: chunks("y"), trailer: []string{"x-up-trailer", "u"}},
			checks: []check{noLocal, respHdr("x-req-trailers", "1"), func(t *testing.T, x *filter.Exchange, r result) {
				if got := hdr(&x.Req.Trailer, "x-trailer-seen"); got != "t1" {
					t.Errorf("x-trailer-seen = %q", got)
				}
				if got := hdr(&x.Resp.Trailer, "x-resp-trailer"); got != "added" {
					t.Errorf("x-resp-trailer = %q", got)
				}
			}}},
		{name: "pause on headers, continue from a tick", ops: "pause", up: ok200,
			checks: []check{noLocal, reqHdr("x-resumed", "tick")}},
		{name: "pause on headers, local response from a tick", ops: "pauselocal", up: ok200,
			checks: []check{local(202, "from tick")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.method
			if m == "" {
				m = "GET"
			}
			h := append([]string{"x-test", tt.ops}, tt.hdrs...)
			x := exchange(m, "/test?q=1", h...)
			r := run(t, []filter.Factory{f}, x, tt.body, tt.trailer, tt.up)
			for _, c := range tt.checks {
				c(t, x, r)
			}
		})
	}
	if t.Failed() {
		t.Log(logs.String())
	}
	if m := p.Metrics(); len(m) != 1 || m[0].Name != "conformance_requests" || m[0].Value != 2 {
		t.Errorf("metrics snapshot %+v", m)
	}
}

func TestBodyModeOnRequestProperty(t *testing.T) {
	p, _ := loadConformance(t, PluginConfig{BodyMode: BodyOnRequestProperty})
	f := newFactory(t, p, "")
	x := exchange("POST", "/", "x-test", "requpper")
	r := run(t, []filter.Factory{f}, x, chunks("ab"), nil, upstream{status: 200, body: chunks("x")})
	if string(r.sentBody) != "ab" {
		t.Errorf("body callback ran without the property: %q", r.sentBody)
	}
	x = exchange("POST", "/", "x-test", "requpper,reqbodyprop")
	r = run(t, []filter.Factory{f}, x, chunks("ab"), nil, upstream{status: 200, body: chunks("x")})
	if string(r.sentBody) != "AB" {
		t.Errorf("body callback did not run after wasm_process_req_body: %q", r.sentBody)
	}
}

func TestConfigureRejected(t *testing.T) {
	p, _ := loadConformance(t, PluginConfig{})
	_, err := p.NewFactory(context.Background(), "route-7", []byte("reject"))
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("err = %v, want ErrRejected", err)
	}
	// The caller names the route (the gateway with apisix.yaml's line).
	if !strings.Contains(err.Error(), "wasm plugin conformance") || strings.Contains(err.Error(), "route-7") {
		t.Errorf("error should name the plugin once and leave the route to the caller: %v", err)
	}
	// The plugin still serves other configurations.
	f := newFactory(t, p, "")
	x := exchange("GET", "/", "x-test", "addreq")
	if r := run(t, []filter.Factory{f}, x, nil, nil, upstream{status: 200}); r.err != nil || hdr(&x.Req.Header, "x-added") != "1" {
		t.Fatalf("after rejection: %+v", r)
	}
}

// TestFailures: a trap, an infinite loop and a memory hog each fail their
// request with 503 (fail closed, the default), the instance is replaced and
// the next request works.
func TestFailures(t *testing.T) {
	p, logs := loadConformance(t, PluginConfig{CallTimeout: 300e6, MemoryLimitPages: 1024})
	f := newFactory(t, p, "")
	for _, op := range []string{"trap", "loop", "oom", "resptrap"} {
		t.Run(op, func(t *testing.T) {
			x := exchange("GET", "/", "x-test", op)
			r := run(t, []filter.Factory{f}, x, nil, nil, upstream{status: 200})
			if r.local == nil || r.local.Status != 503 {
				t.Fatalf("%s: local %+v err %v", op, r.local, r.err)
			}
			x = exchange("GET", "/", "x-test", "addreq")
			r = run(t, []filter.Factory{f}, x, nil, nil, upstream{status: 200})
			if r.err != nil || r.local != nil || hdr(&x.Req.Header, "x-added") != "1" {
				t.Fatalf("next request: %+v", r)
			}
		})
	}
	if !strings.Contains(logs.String(), "exceeded its deadline") {
		t.Errorf("no deadline log:\n%s", logs.String())
	}
}

func TestHTTPCall(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(207)
		w.Write([]byte("12345"))
	}))
	defer srv.Close()
	p, _ := loadConformance(t, PluginConfig{Upstreams: func(name string) (string, bool) {
		if name == "auth" {
			return strings.TrimPrefix(srv.URL, "http://"), true
		}
		return "", false
	}})
	f := newFactory(t, p, "")
	x := exchange("GET", "/", "x-test", "httpcall", "x-call-upstream", "auth")
	r := run(t, []filter.Factory{f}, x, nil, nil, upstream{status: 200})
	if r.err != nil || r.local != nil {
		t.Fatalf("%+v", r)
	}
	if hdr(&x.Req.Header, "x-call-status") != "207" || hdr(&x.Req.Header, "x-call-body-len") != "5" {
		t.Errorf("call result headers: %q %q", hdr(&x.Req.Header, "x-call-status"), hdr(&x.Req.Header, "x-call-body-len"))
	}
	x = exchange("GET", "/", "x-test", "httpcall", "x-call-upstream", "unknown-cluster")
	run(t, []filter.Factory{f}, x, nil, nil, upstream{status: 200})
	if got := hdr(&x.Req.Header, "x-call-error"); got != "2" {
		t.Errorf("unknown upstream: x-call-error = %q, want 2 (BadArgument)", got)
	}
}

func TestUnknownImport(t *testing.T) {
	// A minimal module importing env.proxy_nonexistent (func () -> ()).
	wasm := []byte{
		0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
		0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () -> ()
		0x02, 0x19, 0x01, 0x03, 'e', 'n', 'v', 0x11,
		'p', 'r', 'o', 'x', 'y', '_', 'n', 'o', 'n', 'e', 'x', 'i', 's', 't', 'e', 'n', 't', 0x00, 0x00,
	}
	_, err := Load(context.Background(), PluginConfig{Name: "bad", Wasm: wasm, NoCache: true}, nil)
	if err == nil || !strings.Contains(err.Error(), "env.proxy_nonexistent") {
		t.Fatalf("err = %v", err)
	}
}

func TestFactoryCloseAndPluginClose(t *testing.T) {
	p, _ := loadConformance(t, PluginConfig{PoolSize: 2})
	f, err := p.NewFactory(context.Background(), "r1", nil)
	if err != nil {
		t.Fatal(err)
	}
	x := exchange("GET", "/", "x-test", "addreq")
	run(t, []filter.Factory{f}, x, nil, nil, upstream{status: 200})
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.NewStreamFilter(exchange("GET", "/")); err == nil {
		t.Error("closed factory made a stream")
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
