package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/heimdallgw/heimdall/sdk/proxywasm/proxytest"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

func start(t *testing.T, conf string) (*proxytest.HostEmulator, func()) {
	t.Helper()
	host, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().
		WithVMContext(newVM()).
		WithPluginConfiguration([]byte(conf)))
	if !host.StartVM() {
		reset()
		t.Fatal("vm start failed")
	}
	return host, reset
}

func TestConfiguration(t *testing.T) {
	tests := []struct {
		name string
		conf string
		ok   bool
	}{
		{"empty", "", true},
		{"defaults spelled out", `{"max_body_bytes": 4096, "redact": ["authorization","cookie"]}`, true},
		{"partial", `{"max_body_bytes": 10}`, true},
		{"invalid json", `{"max_body_bytes":`, false},
		{"wrong type", `{"max_body_bytes": "big"}`, false},
		{"negative size", `{"max_body_bytes": -1}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, reset := start(t, tt.conf)
			defer reset()
			if got := host.StartPlugin(); got != tt.ok {
				t.Fatalf("StartPlugin() = %v, want %v", got, tt.ok)
			}
		})
	}
}

func TestLogsHeadersAndBodies(t *testing.T) {
	host, reset := start(t, "")
	defer reset()
	if !host.StartPlugin() {
		t.Fatal("conf rejected")
	}
	id := host.InitializeHttpContext()
	reqHeaders := [][2]string{
		{":method", "POST"}, {":path", "/httpbin/post"}, {":authority", "localhost"},
		{"Authorization", "Bearer secret"}, {"x-trace", "abc"},
	}
	if a := host.CallOnRequestHeaders(id, reqHeaders, false); a != types.ActionContinue {
		t.Fatalf("request headers: %v", a)
	}
	for i, chunk := range []string{"hel", "lo"} {
		if a := host.CallOnRequestBody(id, []byte(chunk), i == 1); a != types.ActionContinue {
			t.Fatalf("request body: %v", a)
		}
	}
	host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}, {"set-cookie", "a=b"}, {"cookie", "c=d"}}, false)
	host.CallOnResponseBody(id, []byte(`{"ok":true}`), true)
	host.CompleteHttpContext(id)

	want := []string{
		fmt.Sprintf("#request_header %d -> :method: POST", id),
		fmt.Sprintf("#request_header %d -> :path: /httpbin/post", id),
		fmt.Sprintf("#request_header %d -> :authority: localhost", id),
		fmt.Sprintf("#request_header %d -> authorization: <redacted>", id),
		fmt.Sprintf("#request_header %d -> x-trace: abc", id),
		fmt.Sprintf("#request_body %d -> hello", id),
		fmt.Sprintf("#response_header %d <- :status: 200", id),
		fmt.Sprintf("#response_header %d <- set-cookie: a=b", id),
		fmt.Sprintf("#response_header %d <- cookie: <redacted>", id),
		fmt.Sprintf(`#response_body %d <- {"ok":true}`, id),
	}
	if got := host.Logs(types.LogLevelInfo); !slices.Equal(got, want) {
		t.Errorf("info logs:\n got %q\nwant %q", got, want)
	}
	for _, p := range []string{"wasm_process_req_body", "wasm_process_resp_body"} {
		if v, ok := host.Property([]string{p}); !ok || string(v) != "true" {
			t.Errorf("property %s = %q, %v", p, v, ok)
		}
	}
	st := host.Stream(id)
	if string(st.RequestBody) != "hello" || string(st.ResponseBody) != `{"ok":true}` {
		t.Errorf("bodies changed: %q %q", st.RequestBody, st.ResponseBody)
	}
	if _, https := host.LiveContexts(); https != 0 {
		t.Errorf("%d http contexts left after completion", https)
	}
}

func bodyLine(t *testing.T, conf string, body []byte) string {
	t.Helper()
	host, reset := start(t, conf)
	defer reset()
	if !host.StartPlugin() {
		t.Fatal("conf rejected")
	}
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, [][2]string{{":method", "POST"}}, false)
	host.CallOnRequestBody(id, body, true)
	for _, l := range host.Logs(types.LogLevelInfo) {
		if strings.HasPrefix(l, "#request_body") {
			return l
		}
	}
	return ""
}

func TestBodyRendering(t *testing.T) {
	tests := []struct {
		name string
		conf string
		body []byte
		want string
	}{
		{"utf8", "", []byte("héllo"), "#request_body 2 -> héllo"},
		{"binary", "", []byte{0xff, 0xfe, 0x00}, "#request_body 2 -> <binary body: 3 bytes>"},
		{"truncated", `{"max_body_bytes": 4}`, []byte("abcdefgh"), "#request_body 2 -> abcd... <truncated: 8 bytes>"},
		{"truncated mid-rune", `{"max_body_bytes": 2}`, []byte("aé!"), "#request_body 2 -> a... <truncated: 4 bytes>"},
		{"empty body not logged", "", nil, ""},
		{"custom redact does not touch bodies", `{"redact": []}`, []byte("x"), "#request_body 2 -> x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := bodyLine(t, tt.conf, tt.body); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCustomRedaction(t *testing.T) {
	host, reset := start(t, `{"redact": ["X-Api-Key"]}`)
	defer reset()
	host.StartPlugin()
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, [][2]string{{"x-api-key", "k"}, {"authorization", "visible"}}, true)
	want := []string{
		"#request_header 2 -> x-api-key: <redacted>",
		"#request_header 2 -> authorization: visible",
	}
	if got := host.Logs(types.LogLevelInfo); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestBodyLoggedOnceWithTrailersAndAtStreamEnd(t *testing.T) {
	host, reset := start(t, "")
	defer reset()
	host.StartPlugin()
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, nil, false)
	host.CallOnRequestBody(id, []byte("a"), false)
	host.CallOnRequestTrailers(id, [][2]string{{"grpc-status", "0"}})
	host.CallOnResponseHeaders(id, nil, false)
	host.CallOnResponseBody(id, []byte("b"), false) // stream reset before eos
	host.CompleteHttpContext(id)
	want := []string{"#request_body 2 -> a", "#response_body 2 <- b"}
	if got := host.Logs(types.LogLevelInfo); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestQuietWhenHostDropsInfo: with the host at warn, the plugin reads
// nothing and does not ask for bodies (APISIX properties unset).
func TestQuietWhenHostDropsInfo(t *testing.T) {
	host, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().
		WithVMContext(newVM()).WithLogLevel(types.LogLevelWarn))
	defer reset()
	if !host.StartVM() || !host.StartPlugin() {
		t.Fatal("start failed")
	}
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, [][2]string{{":method", "POST"}, {"x-a", "b"}}, false)
	host.CallOnRequestBody(id, []byte("hello"), true)
	host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false)
	host.CallOnResponseBody(id, []byte("ok"), true)
	host.CompleteHttpContext(id)
	if got := host.Logs(types.LogLevelTrace); len(got) != 0 {
		t.Errorf("quiet plugin logged %q", got)
	}
	for _, p := range []string{"wasm_process_req_body", "wasm_process_resp_body"} {
		if _, ok := host.Property([]string{p}); ok {
			t.Errorf("quiet plugin set %s", p)
		}
	}
}
