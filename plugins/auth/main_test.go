package main

import (
	"slices"
	"testing"

	"github.com/heimdallgw/heimdall/sdk/proxywasm/proxytest"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

const conf = `{"header": "X-Key", "keys": ["k1", "k2"], "hide_credentials": true}`

func TestAuth(t *testing.T) {
	tests := []struct {
		name       string
		headers    [][2]string
		wantAction types.Action
		wantStatus uint32 // 0: no local response
		wantBody   string
		wantHeader [2]string
	}{
		{"valid key", [][2]string{{"x-key", "k2"}}, types.ActionContinue, 0, "", [2]string{}},
		{"missing key", nil, types.ActionPause, 401, bodyMissing, [2]string{"www-authenticate", `ApiKey header="x-key"`}},
		{"empty key", [][2]string{{"x-key", ""}}, types.ActionPause, 401, bodyMissing, [2]string{"www-authenticate", `ApiKey header="x-key"`}},
		{"wrong key", [][2]string{{"x-key", "k3"}}, types.ActionPause, 403, bodyInvalid, [2]string{"content-type", "application/json"}},
		{"prefix of a key", [][2]string{{"x-key", "k"}}, types.ActionPause, 403, bodyInvalid, [2]string{"content-type", "application/json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().
				WithVMContext(&vm{}).WithPluginConfiguration([]byte(conf)))
			defer reset()
			if !host.StartPlugin() {
				t.Fatal("conf rejected")
			}
			id := host.InitializeHttpContext()
			headers := append([][2]string{{":method", "GET"}, {":path", "/"}}, tt.headers...)
			if got := host.CallOnRequestHeaders(id, headers, true); got != tt.wantAction {
				t.Fatalf("action = %v, want %v", got, tt.wantAction)
			}
			st := host.Stream(id)
			if tt.wantStatus == 0 {
				if st.LocalResponse != nil {
					t.Fatalf("unexpected local response %+v", st.LocalResponse)
				}
				if slices.ContainsFunc(st.RequestHeaders, func(h [2]string) bool { return h[0] == "x-key" }) {
					t.Error("hide_credentials: key header still forwarded")
				}
				return
			}
			lr := st.LocalResponse
			if lr == nil {
				t.Fatal("no local response")
			}
			if lr.StatusCode != tt.wantStatus || string(lr.Body) != tt.wantBody {
				t.Errorf("local response %d %q, want %d %q", lr.StatusCode, lr.Body, tt.wantStatus, tt.wantBody)
			}
			if !slices.Contains(lr.Headers, tt.wantHeader) {
				t.Errorf("headers %q lack %q", lr.Headers, tt.wantHeader)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name, conf string
		ok         bool
	}{
		{"keys only", `{"keys": ["a"]}`, true},
		{"no keys", `{"header": "x"}`, false},
		{"empty key", `{"keys": [""]}`, false},
		{"empty header", `{"header": " ", "keys": ["a"]}`, false},
		{"empty conf", ``, false},
		{"unknown field", `{"keys": ["a"], "key": "b"}`, false},
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
