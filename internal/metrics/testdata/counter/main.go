// Command counter is a test plugin for internal/metrics: per request it
// increments a counter with a tag in its name, adds the request's path
// length to a gauge, and records the request header count in a histogram.
// It answers 418 locally for paths starting with /teapot.
//
// Built by the tests with internal/testutil/wasmbuild:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o counter.wasm .
package main

import (
	"strings"

	"github.com/heimdallgw/heimdall/sdk/proxywasm"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vm{}) }

type vm struct{ types.DefaultVMContext }

func (*vm) NewPluginContext(uint32) types.PluginContext { return &plugin{} }

type plugin struct {
	types.DefaultPluginContext
	hits    proxywasm.MetricCounter
	pathLen proxywasm.MetricGauge
	headers proxywasm.MetricHistogram
}

func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	var err error
	if p.hits, err = proxywasm.DefineCounterMetric("test_filter.hits.route=r1"); err != nil {
		return types.OnPluginStartStatusFailed
	}
	if p.pathLen, err = proxywasm.DefineGaugeMetric("test_filter.path_bytes"); err != nil {
		return types.OnPluginStartStatusFailed
	}
	if p.headers, err = proxywasm.DefineHistogramMetric("test_filter.request_headers"); err != nil {
		return types.OnPluginStartStatusFailed
	}
	return types.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(uint32) types.HttpContext { return &stream{p: p} }

type stream struct {
	types.DefaultHttpContext
	p *plugin
}

func (s *stream) OnHttpRequestHeaders(int, bool) types.Action {
	s.p.hits.Increment(1) //nolint:errcheck // a test plugin
	path, _ := proxywasm.GetHttpRequestHeader(":path")
	s.p.pathLen.Add(int64(len(path))) //nolint:errcheck
	hs, _ := proxywasm.GetHttpRequestHeaders()
	s.p.headers.Record(uint64(len(hs))) //nolint:errcheck
	if strings.HasPrefix(path, "/teapot") {
		proxywasm.SendHttpResponse(418, nil, []byte("short and stout"), -1) //nolint:errcheck
		return types.ActionPause
	}
	return types.ActionContinue
}
