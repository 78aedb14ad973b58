// Command headers rewrites request and response headers from its conf:
// remove, then set (add or replace), then add, in that order, with names
// applied in sorted order so the result is deterministic. See README.md.
package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/heimdallgw/heimdall/sdk/proxywasm"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vm{}) }

// rules is one direction's rewrite.
type rules struct {
	Remove []string          `json:"remove"`
	Set    map[string]string `json:"set"`
	Add    map[string]string `json:"add"`
}

type config struct {
	Request  rules `json:"request"`
	Response rules `json:"response"`
}

func parseConfig(data []byte) (*config, error) {
	var c config
	if len(strings.TrimSpace(string(data))) == 0 {
		return &c, nil
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields() // a typo must not silently disable a rule
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("invalid conf: %w", err)
	}
	for _, r := range []*rules{&c.Request, &c.Response} {
		for i, name := range r.Remove {
			r.Remove[i] = strings.ToLower(name)
		}
		r.Set = lowerKeys(r.Set)
		r.Add = lowerKeys(r.Add)
	}
	return &c, nil
}

func lowerKeys(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// hostOps are the header calls of one direction.
type hostOps struct {
	remove  func(string) error
	replace func(string, string) error
	add     func(string, string) error
}

func requestOps() hostOps {
	return hostOps{proxywasm.RemoveHttpRequestHeader, proxywasm.ReplaceHttpRequestHeader, proxywasm.AddHttpRequestHeader}
}

func responseOps() hostOps {
	return hostOps{proxywasm.RemoveHttpResponseHeader, proxywasm.ReplaceHttpResponseHeader, proxywasm.AddHttpResponseHeader}
}

func (r *rules) apply(ops hostOps) error {
	for _, name := range r.Remove {
		if err := ops.remove(name); err != nil {
			return fmt.Errorf("remove %s: %w", name, err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(r.Set)) {
		if err := ops.replace(name, r.Set[name]); err != nil {
			return fmt.Errorf("set %s: %w", name, err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(r.Add)) {
		if err := ops.add(name, r.Add[name]); err != nil {
			return fmt.Errorf("add %s: %w", name, err)
		}
	}
	return nil
}

type vm struct{ types.DefaultVMContext }

func (*vm) NewPluginContext(uint32) types.PluginContext { return &plugin{conf: &config{}} }

type plugin struct {
	types.DefaultPluginContext
	conf *config
}

func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	data, err := proxywasm.GetPluginConfiguration()
	if err == nil {
		p.conf, err = parseConfig(data)
	}
	if err != nil {
		proxywasm.LogErrorf("headers: %v", err)
		return false
	}
	return true
}

func (p *plugin) NewHttpContext(id uint32) types.HttpContext {
	return &stream{id: id, conf: p.conf}
}

type stream struct {
	types.DefaultHttpContext
	id   uint32
	conf *config
}

func (s *stream) OnHttpRequestHeaders(int, bool) types.Action {
	if err := s.conf.Request.apply(requestOps()); err != nil {
		proxywasm.LogErrorf("headers: %d: request: %v", s.id, err)
	}
	return types.ActionContinue
}

func (s *stream) OnHttpResponseHeaders(int, bool) types.Action {
	if err := s.conf.Response.apply(responseOps()); err != nil {
		proxywasm.LogErrorf("headers: %d: response: %v", s.id, err)
	}
	return types.ActionContinue
}
