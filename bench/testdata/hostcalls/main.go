// Command hostcalls is a benchmark guest: in each request callback it makes
// one proxy-wasm host call N times, so BenchmarkHostCall can derive the cost
// of one call (from a Go guest, SDK included) by difference with N = 0.
//
// conf (JSON): {"op": "get_header" | "get_pairs" | "add_header" | "get_body", "n": 64}
//
// Build (done by the benchmark through internal/testutil/wasmbuild):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o hostcalls.wasm .
package main

import (
	"encoding/json"

	"github.com/heimdallgw/heimdall/sdk/proxywasm"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vm{}) }

type config struct {
	Op string `json:"op"`
	N  int    `json:"n"`
}

type vm struct{ types.DefaultVMContext }

func (*vm) NewPluginContext(uint32) types.PluginContext { return &plugin{} }

type plugin struct {
	types.DefaultPluginContext
	conf config
}

func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	data, err := proxywasm.GetPluginConfiguration()
	if err != nil || json.Unmarshal(data, &p.conf) != nil {
		return types.OnPluginStartStatusFailed
	}
	return types.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(uint32) types.HttpContext { return &stream{conf: &p.conf} }

type stream struct {
	types.DefaultHttpContext
	conf *config
}

func (s *stream) OnHttpRequestHeaders(int, bool) types.Action {
	for range s.conf.N {
		var err error
		switch s.conf.Op {
		case "get_header":
			_, err = proxywasm.GetHttpRequestHeader("user-agent")
		case "get_pairs":
			_, err = proxywasm.GetHttpRequestHeaders()
		case "add_header":
			err = proxywasm.AddHttpRequestHeader("x-bench", "1")
		default:
			return types.ActionContinue
		}
		if err != nil {
			proxywasm.LogErrorf("hostcalls: %s: %v", s.conf.Op, err)
			return types.ActionContinue
		}
	}
	return types.ActionContinue
}

func (s *stream) OnHttpRequestBody(size int, eos bool) types.Action {
	if s.conf.Op != "get_body" || !eos {
		return types.ActionContinue
	}
	for range s.conf.N {
		if _, err := proxywasm.GetHttpRequestBody(0, size); err != nil {
			proxywasm.LogErrorf("hostcalls: get_body: %v", err)
			break
		}
	}
	return types.ActionContinue
}
