package plugintool

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mccutchen/go-httpbin/v2/httpbin"

	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

func readWasm(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const cannedJSON = "HTTP/1.1 200 OK\nContent-Type: application/json\nServer: canned\n\n{\"ok\":true}"

func TestRunGolden(t *testing.T) {
	heimdall := func(t *testing.T) string { return wasmbuild.MustBuild(t, "plugins/heimdall") }
	headers := func(t *testing.T) string { return wasmbuild.MustBuild(t, "plugins/headers") }
	auth := func(t *testing.T) string { return wasmbuild.MustBuild(t, "plugins/auth") }
	jsonmask := func(t *testing.T) string { return wasmbuild.MustBuild(t, "plugins/jsonmask") }
	conformance := func(t *testing.T) string { return wasmbuild.MustBuild(t, "internal/wasm/host/testdata/conformance") }
	as := func(t *testing.T) string {
		return wasmbuild.MustBuildAssemblyScript(t, "internal/wasm/host/testdata/asplugin")
	}
	tests := []struct {
		name   string
		plugin func(t *testing.T) string
		o      RunOptions
		exit   int
	}{
		{"heimdall-trace", heimdall, RunOptions{
			Requests: [][]byte{[]byte("POST /post HTTP/1.1\nHost: example.com\nAuthorization: secret\n\nhello")},
			Response: []byte(cannedJSON), Trace: true}, ExitOK},
		{"heimdall", heimdall, RunOptions{
			Requests: [][]byte{[]byte("GET /get?x=1 HTTP/1.1\nHost: example.com\n\n")},
			Response: []byte(cannedJSON)}, ExitOK},
		{"headers", headers, RunOptions{
			Conf:     []byte(`{"request": {"remove": ["x-internal"], "set": {"x-env": "prod"}, "add": {"via": "heimdall"}}, "response": {"remove": ["server"], "add": {"x-served-by": "heimdall"}}}`),
			Requests: [][]byte{[]byte("GET / HTTP/1.1\nHost: example.com\nX-Internal: 1\nVia: proxy\n\n")},
			Response: []byte(cannedJSON), Trace: true}, ExitOK},
		{"auth-denied", auth, RunOptions{
			Conf:     []byte(`{"keys": ["k1"]}`),
			Requests: [][]byte{[]byte("GET / HTTP/1.1\nHost: example.com\n\n"), []byte("GET / HTTP/1.1\nHost: example.com\nX-Api-Key: k1\n\n")},
			Response: []byte(cannedJSON)}, ExitLocal},
		{"jsonmask", jsonmask, RunOptions{
			Conf:     []byte(`{"fields": ["password"]}`),
			Requests: [][]byte{[]byte("GET /user HTTP/1.1\nHost: example.com\n\n")},
			Response: []byte("HTTP/1.1 200 OK\nContent-Type: application/json\n\n{\"user\":\"ann\",\"password\":\"hunter2\"}")}, ExitOK},
		{"conformance-local", conformance, RunOptions{
			Requests: [][]byte{[]byte("GET /x HTTP/1.1\nHost: example.com\nX-Test: local\n\n")}, Trace: true}, ExitLocal},
		{"asplugin", as, RunOptions{
			Requests: [][]byte{[]byte("GET /some/path HTTP/1.1\nHost: example.com\n\n"), []byte("GET /as-local HTTP/1.1\nHost: example.com\n\n")},
			Trace:    true}, ExitLocal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.plugin(t)
			o := tt.o
			o.Name = strings.SplitN(tt.name, "-", 2)[0]
			o.Wasm = readWasm(t, path)
			o.CacheDir = testCacheDir
			r, err := Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			r.Write(&buf)
			if got := r.ExitCode(); got != tt.exit {
				t.Errorf("exit %d, want %d\n%s", got, tt.exit, buf.String())
			}
			golden(t, filepath.Join("testdata", "run", tt.name+".golden"), NormaliseOutput(buf.String()))
		})
	}
}

// The check: --trace on the heimdall plugin shows its
// #request_header lines and the host calls that produced them.
func TestRunTraceShowsRequestHeaderCalls(t *testing.T) {
	r, err := Run(context.Background(), RunOptions{
		Name: "heimdall", Wasm: readWasm(t, wasmbuild.MustBuild(t, "plugins/heimdall")), Trace: true, CacheDir: testCacheDir,
		Requests: [][]byte{[]byte("GET /p HTTP/1.1\nHost: h\nX-Hello: world\n\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	ev := strings.Join(r.Events, "\n")
	for _, want := range []string{
		"  > proxy_on_request_headers(2, ",
		`  | proxy_get_header_map_pairs(request_headers) -> Ok [":authority": "h", ":path": "/p", ":method": "GET"`,
		"info #request_header 2 -> x-hello: world\n  | proxy_log(info, \"#request_header 2 -> x-hello: world\") -> Ok",
		"  < proxy_on_request_headers = Continue (",
		"  > proxy_on_done(1)", // the root context, at the end
	} {
		if !strings.Contains(ev, want) {
			t.Errorf("trace lacks %q:\n%s", want, ev)
		}
	}
}

func TestRunTrap(t *testing.T) {
	r, err := Run(context.Background(), RunOptions{
		Name: "conformance", Wasm: readWasm(t, wasmbuild.MustBuild(t, "internal/wasm/host/testdata/conformance")), CacheDir: testCacheDir,
		Requests: [][]byte{[]byte("GET /x HTTP/1.1\nHost: h\nX-Test: trap\n\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.ExitCode() != ExitTrap || !strings.HasPrefix(r.Trap, "proxy_on_request_headers (context 2): ") ||
		r.Exchanges[0].Status != 503 || r.Exchanges[0].Upstream != nil {
		t.Fatalf("exit %d trap %q exchange %+v", r.ExitCode(), r.Trap, r.Exchanges[0])
	}
}

func TestRunTicks(t *testing.T) {
	wasm := readWasm(t, wasmbuild.MustBuild(t, "internal/wasm/host/testdata/conformance"))
	r, err := Run(context.Background(), RunOptions{Name: "conformance", Wasm: wasm, Conf: []byte("tick"), Ticks: 3, Trace: true, CacheDir: testCacheDir})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.Join(r.Events, "\n"), "< proxy_on_tick = "); n < 3 {
		t.Fatalf("%d ticks, want at least 3:\n%s", n, strings.Join(r.Events, "\n"))
	}
	// No tick period: --ticks says so instead of waiting forever.
	r, err = Run(context.Background(), RunOptions{Name: "conformance", Wasm: wasm, Ticks: 1, CacheDir: testCacheDir})
	if err != nil {
		t.Fatal(err)
	}
	if ev := strings.Join(r.Events, "\n"); !strings.Contains(ev, "the plugin set no tick period") {
		t.Fatalf("events:\n%s", ev)
	}
}

// A real upstream (go-httpbin on loopback): the request goes through the
// gateway and the recording proxy to it, with Host rewritten to it.
func TestRunRealUpstream(t *testing.T) {
	hb := httptest.NewServer(httpbin.New())
	defer hb.Close()
	r, err := Run(context.Background(), RunOptions{
		Name: "headers", Wasm: readWasm(t, wasmbuild.MustBuild(t, "plugins/headers")), CacheDir: testCacheDir,
		Conf:     []byte(`{"request": {"set": {"x-env": "prod"}}}`),
		Requests: [][]byte{[]byte("GET /headers HTTP/1.1\nHost: example.com\n\n")},
		Upstream: hb.URL,
	})
	if err != nil {
		t.Fatal(err)
	}
	x := r.Exchanges[0]
	host := strings.TrimPrefix(hb.URL, "http://")
	if r.ExitCode() != ExitOK || x.Status != 200 || !bytes.Contains(x.Upstream, []byte("Host: "+host+"\r\n")) ||
		!bytes.Contains(x.Response, []byte(`"X-Env": [`)) {
		t.Fatalf("exit %d\nupstream:\n%s\nresponse:\n%s", r.ExitCode(), x.Upstream, x.Response)
	}
}

func TestNormaliseMessage(t *testing.T) {
	got, err := NormaliseMessage([]byte("POST /a HTTP/1.1\nHost: x\n\nbody"), "req.http")
	if err != nil || string(got) != "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody" {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := NormaliseMessage([]byte("GET / HTTP/1.1\nno colon here\n\n"), "req.http"); err == nil ||
		err.Error() != `req.http:2: "no colon here" is not a header line (want Name: value)` {
		t.Fatalf("err %v", err)
	}
}

// httpget GETs a URL from on_configure through the socket ABI: refused
// without --network, done with it (the allow list of config.yaml).
func TestRunNetwork(t *testing.T) {
	hb := httptest.NewServer(httpbin.New())
	defer hb.Close()
	wasm := readWasm(t, wasmbuild.MustBuild(t, "plugins/httpget"))
	conf := []byte(`{"url": "` + hb.URL + `/get"}`)
	r, err := Run(context.Background(), RunOptions{Name: "httpget", Wasm: wasm, Conf: conf, CacheDir: testCacheDir})
	if err != nil {
		t.Fatal(err)
	}
	if ev := strings.Join(r.Events, "\n"); !strings.Contains(ev, `plugin network access refused destination="127.0.0.1:`) ||
		!strings.Contains(ev, "Permission denied") {
		t.Fatalf("without --network:\n%s", ev)
	}
	r, err = Run(context.Background(), RunOptions{Name: "httpget", Wasm: wasm, Conf: conf, CacheDir: testCacheDir,
		Network: []string{"127.0.0.1/32"}})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	r.Write(&buf)
	if r.ExitCode() != ExitOK || !strings.Contains(buf.String(), "info Status: 200 OK") {
		t.Fatalf("with --network:\n%s", buf.String())
	}
}

func TestRunTraceWASI(t *testing.T) {
	wasm := readWasm(t, wasmbuild.MustBuild(t, "plugins/heimdall"))
	r, err := Run(context.Background(), RunOptions{Name: "heimdall", Wasm: wasm, Trace: true, TraceWASI: true, CacheDir: testCacheDir})
	if err != nil {
		t.Fatal(err)
	}
	ev := strings.Join(r.Events, "\n")
	if !strings.Contains(ev, "  | wasi_snapshot_preview1.clock_time_get(") || !strings.Contains(ev, "-> errno 0") {
		t.Fatalf("no WASI calls in:\n%s", ev)
	}
	// Without TraceWASI, none (the default --trace).
	r, err = Run(context.Background(), RunOptions{Name: "heimdall", Wasm: wasm, Trace: true, CacheDir: testCacheDir})
	if err != nil {
		t.Fatal(err)
	}
	if ev := strings.Join(r.Events, "\n"); strings.Contains(ev, "wasi_snapshot_preview1.") {
		t.Fatalf("WASI calls without TraceWASI:\n%s", ev)
	}
}
