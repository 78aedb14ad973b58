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
	fields *fieldSet
	// out is the masked body of the last response, reused for the next:
	// the host copies it in ReplaceHttpResponseBody.
	out  []byte
	free []*stream // streams that are done, for reuse
}

// Bounds on what a plugin keeps between requests.
const (
	maxKeptOut = 1 << 20
	maxFree    = 64
)

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
	var s *stream
	if n := len(p.free); n > 0 {
		s = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		s = &stream{plugin: p}
	}
	s.id, s.json = id, false
	return s
}

type stream struct {
	types.DefaultHttpContext
	plugin *plugin
	id     uint32
	json   bool // the response is JSON and its body is being buffered
}

// OnHttpStreamDone is the stream's last callback: the object is free again.
func (s *stream) OnHttpStreamDone() {
	if p := s.plugin; len(p.free) < maxFree {
		p.free = append(p.free, s)
	}
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
	p := s.plugin
	masked, n, err := mask(body, p.fields, p.out)
	if n > 0 && cap(masked) <= maxKeptOut {
		p.out = masked[:0]
	}
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
	// Checked first: LogDebugf's arguments are boxed on the heap even
	// when the line is dropped.
	if lvl, err := proxywasm.GetLogLevel(); err == nil && lvl <= types.LogLevelDebug {
		proxywasm.LogDebugf("jsonmask: %d: masked %d values", s.id, n)
	}
	return types.ActionContinue
}
