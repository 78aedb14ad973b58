// Command rediscount counts requests in Redis through the host's native
// Redis ABI (Higress's proxy_redis_init / proxy_redis_call): per request it
// pauses on the request headers, sends INCR on the host's pooled connection,
// and resumes in the callback; the count goes to the response as a header.
// The instance is never blocked while Redis answers.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o rediscount.wasm .
// Configuration: README.md in this directory.
package main

import (
	"encoding/json"
	"strconv"

	"github.com/heimdallgw/heimdall/sdk/proxywasm"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vm{}) }

type config struct {
	Cluster       string `json:"cluster"`        // upstream id or host:port of redis
	Username      string `json:"username"`       // AUTH user ("" = default user)
	Password      string `json:"password"`       // AUTH password ("" = no AUTH)
	TimeoutMs     uint32 `json:"timeout_ms"`     // per call; default 1000
	Key           string `json:"key"`            // default "heimdall:rediscount"
	Header        string `json:"header"`         // default "x-redis-count"
	FailureStatus uint32 `json:"failure_status"` // answer when redis fails; default 503
}

type vm struct{ types.DefaultVMContext }

func (*vm) NewPluginContext(uint32) types.PluginContext { return &plugin{} }

type plugin struct {
	types.DefaultPluginContext
	conf config
}

func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	data, err := proxywasm.GetPluginConfiguration()
	if err != nil {
		proxywasm.LogErrorf("rediscount: reading conf: %v", err)
		return types.OnPluginStartStatusFailed
	}
	c := config{TimeoutMs: 1000, Key: "heimdall:rediscount", Header: "x-redis-count", FailureStatus: 503}
	if err := json.Unmarshal(data, &c); err != nil || c.Cluster == "" || c.FailureStatus < 100 || c.FailureStatus > 599 {
		proxywasm.LogErrorf("rediscount: invalid conf %q: want {\"cluster\": \"host:port\", ...}", data)
		return types.OnPluginStartStatusFailed
	}
	p.conf = c
	// A refused or unknown destination is logged, not fatal: the route
	// keeps serving and answers failure_status until the conf is fixed.
	if err := proxywasm.RedisInit(c.Cluster, c.Username, c.Password, c.TimeoutMs); err != nil {
		proxywasm.LogErrorf("rediscount: redis init %s: %v", c.Cluster, err)
	}
	return types.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(uint32) types.HttpContext { return &request{p: p} }

type request struct {
	types.DefaultHttpContext
	p     *plugin
	count string
}

// OnHttpRequestHeaders sends INCR and waits (Pause) for the answer.
func (r *request) OnHttpRequestHeaders(int, bool) types.Action {
	c := &r.p.conf
	err := proxywasm.DispatchRedisCall(c.Cluster, proxywasm.RedisCommand("INCR", c.Key), r.onReply)
	if err != nil {
		proxywasm.LogWarnf("rediscount: INCR %s on %s: %v", c.Key, c.Cluster, err)
		r.fail("redis call refused")
		return types.ActionPause
	}
	return types.ActionPause
}

// onReply runs with this request as the effective context.
func (r *request) onReply(status int32, size int) {
	c := &r.p.conf
	if status != 0 {
		proxywasm.LogWarnf("rediscount: INCR %s on %s failed (status %d)", c.Key, c.Cluster, status)
		r.fail("redis unavailable")
		return
	}
	reply, err := proxywasm.GetRedisCallResponse(0, size)
	if err != nil {
		proxywasm.LogWarnf("rediscount: reading the reply: %v", err)
		r.fail("redis reply unreadable")
		return
	}
	n, ok := integerReply(reply)
	if !ok {
		proxywasm.LogWarnf("rediscount: INCR %s: unexpected reply %q", c.Key, reply)
		r.fail("unexpected redis reply")
		return
	}
	r.count = strconv.FormatInt(n, 10)
	if err := proxywasm.ResumeHttpRequest(); err != nil {
		proxywasm.LogWarnf("rediscount: resuming: %v", err)
	}
}

func (r *request) fail(why string) {
	err := proxywasm.SendHttpResponse(r.p.conf.FailureStatus, [][2]string{{"content-type", "text/plain"}},
		[]byte("rediscount: "+why+"\n"), proxywasm.GRPCStatusNone)
	if err != nil {
		proxywasm.LogWarnf("rediscount: local response: %v", err)
	}
}

func (r *request) OnHttpResponseHeaders(int, bool) types.Action {
	if r.count != "" {
		if err := proxywasm.AddHttpResponseHeader(r.p.conf.Header, r.count); err != nil {
			proxywasm.LogWarnf("rediscount: adding header: %v", err)
		}
	}
	return types.ActionContinue
}

// integerReply parses a RESP integer reply (":42\r\n").
func integerReply(b []byte) (int64, bool) {
	if len(b) < 4 || b[0] != ':' || b[len(b)-2] != '\r' || b[len(b)-1] != '\n' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b[1:len(b)-2]), 10, 64)
	return n, err == nil
}
