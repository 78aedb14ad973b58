package main

import (
	"slices"
	"testing"

	"github.com/heimdallgw/heimdall/sdk/proxywasm/proxytest"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

func TestRewrite(t *testing.T) {
	conf := `{
		"request":  {"remove": ["X-Internal"], "set": {"x-b": "2", "x-a": "1"}, "add": {"via": "heimdall"}},
		"response": {"remove": ["server"], "set": {"x-frame-options": "DENY"}, "add": {"x-served-by": "heimdall"}}
	}`
	host, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().
		WithVMContext(&vm{}).WithPluginConfiguration([]byte(conf)))
	defer reset()
	if !host.StartPlugin() {
		t.Fatal("conf rejected")
	}
	id := host.InitializeHttpContext()
	if a := host.CallOnRequestHeaders(id, [][2]string{
		{":path", "/"}, {"x-internal", "1"}, {"x-b", "old"}, {"x-b", "older"}, {"via", "proxy"},
	}, true); a != types.ActionContinue {
		t.Fatalf("action %v", a)
	}
	host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}, {"server", "nginx"}}, true)

	st := host.Stream(id)
	wantReq := [][2]string{{":path", "/"}, {"x-b", "2"}, {"via", "proxy"}, {"x-a", "1"}, {"via", "heimdall"}}
	if !slices.Equal(st.RequestHeaders, wantReq) {
		t.Errorf("request headers\n got %q\nwant %q", st.RequestHeaders, wantReq)
	}
	wantResp := [][2]string{{":status", "200"}, {"x-frame-options", "DENY"}, {"x-served-by", "heimdall"}}
	if !slices.Equal(st.ResponseHeaders, wantResp) {
		t.Errorf("response headers\n got %q\nwant %q", st.ResponseHeaders, wantResp)
	}
}

// TestStreamsShareOneContext: the plugin's streams have no state of their
// own, so overlapping streams share one context object, each rewritten
// independently; the SDK offers the host to skip every callback but the
// header ones.
func TestStreamsShareOneContext(t *testing.T) {
	emu, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().
		WithVMContext(&vm{}).WithPluginConfiguration([]byte(`{"request": {"set": {"X-A": "1"}}}`)))
	defer reset()
	if !emu.StartPlugin() {
		t.Fatal("conf rejected")
	}
	a, b := emu.InitializeHttpContext(), emu.InitializeHttpContext()
	if emu.HttpContext(a) != emu.HttpContext(b) {
		t.Error("overlapping streams got separate contexts")
	}
	for _, id := range []uint32{a, b} {
		emu.CallOnRequestHeaders(id, [][2]string{{":path", "/"}}, false)
		emu.CallOnRequestBody(id, []byte("x"), true)
		emu.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false)
		emu.CallOnResponseBody(id, []byte("y"), true)
		if got, want := emu.Stream(id).RequestHeaders, [][2]string{{":path", "/"}, {"x-a", "1"}}; !slices.Equal(got, want) {
			t.Errorf("stream %d: %q, want %q", id, got, want)
		}
		emu.CompleteHttpContext(id)
	}
	want := []string{"proxy_on_request_body", "proxy_on_response_body", "proxy_on_log", "proxy_on_done"}
	if got := emu.SkippedCallbacks(); !slices.Equal(got, want) {
		t.Errorf("skipped callbacks %q, want %q", got, want)
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name, conf string
		ok         bool
	}{
		{"empty", "", true},
		{"request only", `{"request": {"add": {"a": "b"}}}`, true},
		{"unknown field", `{"requests": {}}`, false},
		{"bad json", `{`, false},
		{"bad type", `{"request": {"remove": "x"}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().
				WithVMContext(&vm{}).WithPluginConfiguration([]byte(tt.conf)))
			defer reset()
			if got := host.StartPlugin(); got != tt.ok {
				t.Errorf("StartPlugin() = %v, want %v", got, tt.ok)
			}
		})
	}
}
