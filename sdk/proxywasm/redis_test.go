package proxywasm_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/heimdallgw/heimdall/sdk/proxywasm"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

func TestRedisCommand(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"INCR", "hits"}, "*2\r\n$4\r\nINCR\r\n$4\r\nhits\r\n"},
		{[]string{"SET", "k", ""}, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"},
		{[]string{"PING"}, "*1\r\n$4\r\nPING\r\n"},
		{[]string{"SET", "k", "a\r\nb"}, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n"},
	} {
		if got := string(proxywasm.RedisCommand(c.args...)); got != c.want {
			t.Errorf("RedisCommand(%q) = %q, want %q", c.args, got, c.want)
		}
	}
}

func TestRedisCallRunsCallbackOnDispatchingStream(t *testing.T) {
	p := &probe{}
	p.onStart = func() bool {
		err := proxywasm.DispatchRedisCall("redis", proxywasm.RedisCommand("PING"), nil)
		if !errors.Is(err, types.ErrorStatusBadArgument) {
			t.Errorf("call before init: %v", err)
		}
		must(t, proxywasm.RedisInit("redis", "user", "secret", 250))
		return true
	}
	host := run(t, p, nil)
	if inits := host.RedisInits(); len(inits) != 1 || inits[0].Cluster != "redis" || inits[0].Username != "user" ||
		inits[0].Password != "secret" || inits[0].TimeoutMs != 250 {
		t.Fatalf("inits %+v", inits)
	}
	var got []string
	p.onReqHdrs = func() types.Action {
		must(t, proxywasm.DispatchRedisCall("redis", proxywasm.RedisCommand("INCR", "hits"), func(status int32, size int) {
			if status != 0 {
				got = append(got, "failed")
				must(t, proxywasm.SendHttpResponse(503, nil, []byte("redis down"), -1))
				return
			}
			reply, err := proxywasm.GetRedisCallResponse(0, size)
			must(t, err)
			got = append(got, string(reply))
			must(t, proxywasm.AddHttpRequestHeader("x-count", string(reply[1:len(reply)-2]))) // acts on the stream
			must(t, proxywasm.ResumeHttpRequest())
		}))
		return types.ActionPause
	}

	s1 := host.InitializeHttpContext()
	host.CallOnRequestHeaders(s1, [][2]string{{":path", "/"}}, true)
	s2 := host.InitializeHttpContext()
	host.CallOnRequestHeaders(s2, [][2]string{{":path", "/"}}, true)
	calls := host.RedisCallouts()
	if len(calls) != 2 || calls[0].Cluster != "redis" || calls[0].ContextID != s1 || calls[1].ContextID != s2 ||
		string(calls[0].Query) != "*2\r\n$4\r\nINCR\r\n$4\r\nhits\r\n" {
		t.Fatalf("callouts %+v", calls)
	}
	// Answers in the other order: each lands on its own stream.
	host.CallOnRedisCallResponse(calls[1].ID, 0, []byte(":7\r\n"))
	host.CallOnRedisCallResponse(calls[0].ID, 1, nil)
	if !slices.Equal(got, []string{":7\r\n", "failed"}) {
		t.Fatalf("callbacks saw %q", got)
	}
	st2 := host.Stream(s2)
	if st2.RequestResumed != 1 || !slices.Contains(st2.RequestHeaders, [2]string{"x-count", "7"}) {
		t.Errorf("stream 2 after callback %+v", st2)
	}
	if lr := host.Stream(s1).LocalResponse; lr == nil || lr.StatusCode != 503 {
		t.Errorf("stream 1 local response %+v", lr)
	}
	if len(host.RedisCallouts()) != 0 {
		t.Error("callouts still pending")
	}
	// Outside a callback there is no reply buffer.
	p.onReqHdrs = func() types.Action {
		if _, err := proxywasm.GetRedisCallResponse(0, 10); !errors.Is(err, types.ErrorStatusNotFound) {
			t.Errorf("reply outside a callback: %v", err)
		}
		return types.ActionContinue
	}
	host.CallOnRequestHeaders(host.InitializeHttpContext(), [][2]string{{":path", "/"}}, true)
}

func TestRedisCallbackForFinishedStreamIsDropped(t *testing.T) {
	p := &probe{onStart: func() bool { return proxywasm.RedisInit("redis", "", "", 0) == nil }}
	host := run(t, p, nil)
	called := false
	p.onReqHdrs = func() types.Action {
		must(t, proxywasm.DispatchRedisCall("redis", proxywasm.RedisCommand("GET", "k"), func(int32, int) { called = true }))
		return types.ActionPause
	}
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, [][2]string{{":path", "/"}}, true)
	host.CompleteHttpContext(id)
	calls := host.RedisCallouts()
	if len(calls) != 1 {
		t.Fatalf("callouts %+v", calls)
	}
	host.CallOnRedisCallResponse(calls[0].ID, 0, []byte("$-1\r\n"))
	if called {
		t.Error("callback ran for a deleted stream")
	}
}
