package main

import (
	"slices"
	"testing"

	"github.com/heimdallgw/heimdall/sdk/proxywasm/proxytest"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

func TestMask(t *testing.T) {
	fields := map[string]bool{"password": true, "ssn": true}
	tests := []struct {
		name, in, want string
		n              int
		err            bool
	}{
		{"flat", `{"user":"a","password":"p"}`, `{"user":"a","password":"***"}`, 1, false},
		{"spacing kept", "{ \"password\" :  123 ,\n \"x\": 1}", "{ \"password\" :  \"***\" ,\n \"x\": 1}", 1, false},
		{"nested and arrays", `[{"a":{"ssn":"1","b":[{"password":null}]}},{"password":{"deep":[1,2]}}]`,
			`[{"a":{"ssn":"***","b":[{"password":"***"}]}},{"password":"***"}]`, 3, false},
		{"value equal to a field name is not a key", `{"k":"password","list":["ssn"]}`, `{"k":"password","list":["ssn"]}`, 0, false},
		{"after masked object", `{"password":{"a":1},"user":"u","ssn":[1]}`, `{"password":"***","user":"u","ssn":"***"}`, 2, false},
		{"escaped key", `{"pass\u0077ord":"x"}`, `{"pass\u0077ord":"***"}`, 1, false},
		{"scalar document", `"password"`, `"password"`, 0, false},
		{"not json", `{"password":`, "", 0, true},
		{"two documents", `{} {}`, "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n, err := mask([]byte(tt.in), fields)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if err == nil && (string(got) != tt.want || n != tt.n) {
				t.Errorf("got %s (%d), want %s (%d)", got, n, tt.want, tt.n)
			}
		})
	}
}

func newHost(t *testing.T, conf string) (*proxytest.HostEmulator, func()) {
	host, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().
		WithVMContext(&vm{}).WithPluginConfiguration([]byte(conf)))
	if !host.StartPlugin() {
		reset()
		t.Fatal("conf rejected")
	}
	return host, reset
}

func TestPluginMasksBufferedJSONBody(t *testing.T) {
	host, reset := newHost(t, `{"fields": ["password"]}`)
	defer reset()
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, [][2]string{{":path", "/user"}}, true)
	host.CallOnResponseHeaders(id, [][2]string{
		{":status", "200"}, {"content-type", "application/json; charset=utf-8"}, {"content-length", "33"},
	}, false)
	st := host.Stream(id)
	if slices.ContainsFunc(st.ResponseHeaders, func(h [2]string) bool { return h[0] == "content-length" }) {
		t.Error("content-length not removed")
	}
	if a := host.CallOnResponseBody(id, []byte(`{"user":"bob",`), false); a != types.ActionPause {
		t.Fatalf("first chunk: %v, want Pause", a)
	}
	if a := host.CallOnResponseBody(id, []byte(`"password":"hunter2"}`), true); a != types.ActionContinue {
		t.Fatalf("last chunk: %v, want Continue", a)
	}
	if got, want := string(host.Stream(id).ResponseBody), `{"user":"bob","password":"***"}`; got != want {
		t.Errorf("body %s, want %s", got, want)
	}
}

func TestPluginLeavesOtherBodiesAlone(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		wantCL                  bool
	}{
		{"not json", "text/plain", `{"password":"x"}`, true},
		{"invalid json", "application/json", `{"password":`, false},
		{"problem+json without fields", "application/problem+json", `{"title":"x"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, reset := newHost(t, `{"fields": ["password"]}`)
			defer reset()
			id := host.InitializeHttpContext()
			host.CallOnResponseHeaders(id, [][2]string{{"content-type", tt.contentType}, {"content-length", "1"}}, false)
			host.CallOnResponseBody(id, []byte(tt.body), true)
			st := host.Stream(id)
			if string(st.ResponseBody) != tt.body {
				t.Errorf("body changed to %s", st.ResponseBody)
			}
			hasCL := slices.ContainsFunc(st.ResponseHeaders, func(h [2]string) bool { return h[0] == "content-length" })
			if hasCL != tt.wantCL {
				t.Errorf("content-length present = %v, want %v", hasCL, tt.wantCL)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	for _, conf := range []string{``, `{}`, `{"fields": []}`, `{"fields": "password"}`, `{"field": ["a"]}`} {
		host, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().
			WithVMContext(&vm{}).WithPluginConfiguration([]byte(conf)))
		if host.StartPlugin() {
			t.Errorf("conf %q accepted", conf)
		}
		reset()
	}
}
