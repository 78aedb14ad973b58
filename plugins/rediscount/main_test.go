package main

import (
	"slices"
	"testing"

	"github.com/heimdallgw/heimdall/sdk/proxywasm/proxytest"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

func start(t *testing.T, conf string) *proxytest.HostEmulator {
	t.Helper()
	host, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().
		WithVMContext(&vm{}).WithPluginConfiguration([]byte(conf)))
	t.Cleanup(reset)
	if !host.StartPlugin() {
		t.Fatal("conf rejected")
	}
	return host
}

func TestCount(t *testing.T) {
	host := start(t, `{"cluster": "redis", "password": "pw", "timeout_ms": 300, "key": "hits"}`)
	if in := host.RedisInits(); len(in) != 1 || in[0] != (proxytest.RedisInit{Cluster: "redis", Password: "pw", TimeoutMs: 300}) {
		t.Fatalf("inits %+v", in)
	}
	id := host.InitializeHttpContext()
	if a := host.CallOnRequestHeaders(id, [][2]string{{":path", "/"}}, true); a != types.ActionPause {
		t.Fatalf("action %v", a)
	}
	calls := host.RedisCallouts()
	if len(calls) != 1 || string(calls[0].Query) != "*2\r\n$4\r\nINCR\r\n$4\r\nhits\r\n" {
		t.Fatalf("callouts %+v", calls)
	}
	host.CallOnRedisCallResponse(calls[0].ID, 0, []byte(":42\r\n"))
	if st := host.Stream(id); st.RequestResumed != 1 || st.LocalResponse != nil {
		t.Fatalf("stream %+v", st)
	}
	host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, true)
	if h := host.Stream(id).ResponseHeaders; !slices.Contains(h, [2]string{"x-redis-count", "42"}) {
		t.Fatalf("response headers %q", h)
	}
}

func TestFailures(t *testing.T) {
	host := start(t, `{"cluster": "redis", "failure_status": 502}`)
	for _, c := range []struct {
		status int32
		reply  string
	}{{1, ""}, {0, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"}} {
		id := host.InitializeHttpContext()
		host.CallOnRequestHeaders(id, [][2]string{{":path", "/"}}, true)
		calls := host.RedisCallouts()
		host.CallOnRedisCallResponse(calls[0].ID, c.status, []byte(c.reply))
		st := host.Stream(id)
		if st.LocalResponse == nil || st.LocalResponse.StatusCode != 502 || st.RequestResumed != 0 {
			t.Errorf("status %d reply %q: stream %+v", c.status, c.reply, st)
		}
	}
}

func TestInvalidConf(t *testing.T) {
	host, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().
		WithVMContext(&vm{}).WithPluginConfiguration([]byte(`{"key": "x"}`)))
	defer reset()
	if host.StartPlugin() {
		t.Fatal("conf without cluster accepted")
	}
}
