// Command redis is the seed's Redis example: when configured it SETs then
// GETs a key through the host's sockets with go-redis and logs
// "redis key value: <value>"; per request it increments a counter key and
// adds the count to the response as a header.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o redis.wasm .
// Configuration: README.md in this directory.
package main

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/heimdallgw/heimdall/sdk/proxywasm"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
	"github.com/heimdallgw/heimdall/sdk/wasinet"
	"github.com/redis/go-redis/v9"
)

func main() {}

func init() { proxywasm.SetVMContext(&vm{}) }

type config struct {
	Addr       string `json:"addr"`        // host:port of redis
	Key        string `json:"key"`         // default "heimdall"
	Value      string `json:"value"`       // default "foobar"
	CounterKey string `json:"counter_key"` // default "heimdall:requests"
	Header     string `json:"header"`      // default "x-request-count"
	Timeout    string `json:"timeout"`     // per command, default 1s
}

type vm struct{ types.DefaultVMContext }

func (*vm) NewPluginContext(uint32) types.PluginContext { return &plugin{} }

type plugin struct {
	types.DefaultPluginContext
	conf    config
	timeout time.Duration
	rdb     *redis.Client
}

func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	data, err := proxywasm.GetPluginConfiguration()
	if err != nil {
		proxywasm.LogErrorf("redis: reading conf: %v", err)
		return types.OnPluginStartStatusFailed
	}
	c := config{Key: "heimdall", Value: "foobar", CounterKey: "heimdall:requests", Header: "x-request-count", Timeout: "1s"}
	if err := json.Unmarshal(data, &c); err != nil || c.Addr == "" {
		proxywasm.LogErrorf("redis: invalid conf %q: want {\"addr\": \"host:port\", ...}", data)
		return types.OnPluginStartStatusFailed
	}
	if p.timeout, err = time.ParseDuration(c.Timeout); err != nil {
		proxywasm.LogErrorf("redis: invalid timeout %q", c.Timeout)
		return types.OnPluginStartStatusFailed
	}
	p.conf = c
	var d wasinet.Dialer
	p.rdb = redis.NewClient(&redis.Options{
		Addr: c.Addr, Dialer: d.DialContext, Protocol: 2, DisableIdentity: true,
		PoolSize: 1, ReadTimeout: p.timeout, WriteTimeout: p.timeout, DialTimeout: p.timeout,
	})
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	if err := p.rdb.Set(ctx, c.Key, c.Value, 0).Err(); err != nil {
		proxywasm.LogErrorf("redis: SET %s: %v", c.Key, err)
		return types.OnPluginStartStatusOK
	}
	v, err := p.rdb.Get(ctx, c.Key).Result()
	if err != nil {
		proxywasm.LogErrorf("redis: GET %s: %v", c.Key, err)
		return types.OnPluginStartStatusOK
	}
	proxywasm.LogInfof("redis key value: %s", v)
	return types.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(uint32) types.HttpContext {
	if p.rdb == nil {
		return nil
	}
	return &request{p: p}
}

type request struct {
	types.DefaultHttpContext
	p     *plugin
	count int64
}

// OnHttpRequestHeaders counts the request. The call blocks this instance for
// one Redis round trip (bounded by the timeout and the host's deadline).
func (r *request) OnHttpRequestHeaders(int, bool) types.Action {
	ctx, cancel := context.WithTimeout(context.Background(), r.p.timeout)
	defer cancel()
	n, err := r.p.rdb.Incr(ctx, r.p.conf.CounterKey).Result()
	if err != nil {
		proxywasm.LogWarnf("redis: INCR %s: %v", r.p.conf.CounterKey, err)
		return types.ActionContinue
	}
	r.count = n
	return types.ActionContinue
}

func (r *request) OnHttpResponseHeaders(int, bool) types.Action {
	if r.count > 0 {
		if err := proxywasm.AddHttpResponseHeader(r.p.conf.Header, strconv.FormatInt(r.count, 10)); err != nil {
			proxywasm.LogWarnf("redis: adding header: %v", err)
		}
	}
	return types.ActionContinue
}
