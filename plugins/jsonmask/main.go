// Command jsonmask masks fields of JSON response bodies: every value (of
// any type, at any depth) whose object key is listed in the conf is
// replaced by the string "***". The rest of the body is kept byte for
// byte. See README.md.
package main

import (
	"github.com/heimdallgw/heimdall/sdk/proxywasm"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vm{}) }

type vm struct{ types.DefaultVMContext }

func (*vm) NewPluginContext(uint32) types.PluginContext { return &plugin{} }

type plugin struct {
	types.DefaultPluginContext
	fields map[string]bool
}

func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	data, err := proxywasm.GetPluginConfiguration()
	if err == nil {
		p.fields, err = parseConfig(data)
	}
	if err != nil {
		proxywasm.LogErrorf("jsonmask: %v", err)
		return false
	}
	return true
}

func (p *plugin) NewHttpContext(id uint32) types.HttpContext {
	if p.fields == nil {
		return nil
	}
	return &stream{id: id, fields: p.fields}
}

type stream struct {
	types.DefaultHttpContext
	id     uint32
	fields map[string]bool
	json   bool // the response is JSON and its body is being buffered
}

func (s *stream) OnHttpResponseHeaders(_ int, endOfStream bool) types.Action {
	if endOfStream {
		return types.ActionContinue // no body
	}
	ct, err := proxywasm.GetHttpResponseHeader("content-type")
	if err != nil || !isJSON(ct) {
		return types.ActionContinue
	}
	s.json = true
	// The body length changes; let the host frame the rewritten body.
	if err := proxywasm.RemoveHttpResponseHeader("content-length"); err != nil {
		proxywasm.LogWarnf("jsonmask: %d: removing content-length: %v", s.id, err)
	}
	return types.ActionContinue
}

func (s *stream) OnHttpResponseBody(bodySize int, endOfStream bool) types.Action {
	if !s.json {
		return types.ActionContinue
	}
	if !endOfStream {
		return types.ActionPause // let the host buffer the whole body
	}
	if bodySize == 0 {
		return types.ActionContinue
	}
	body, err := proxywasm.GetHttpResponseBody(0, bodySize)
	if err != nil {
		proxywasm.LogErrorf("jsonmask: %d: reading body: %v", s.id, err)
		return types.ActionContinue
	}
	masked, n, err := mask(body, s.fields)
	if err != nil {
		proxywasm.LogWarnf("jsonmask: %d: body left unchanged: %v", s.id, err)
		return types.ActionContinue
	}
	if n == 0 {
		return types.ActionContinue
	}
	if err := proxywasm.ReplaceHttpResponseBody(masked); err != nil {
		proxywasm.LogErrorf("jsonmask: %d: replacing body: %v", s.id, err)
		return types.ActionContinue
	}
	proxywasm.LogDebugf("jsonmask: %d: masked %d values", s.id, n)
	return types.ActionContinue
}
