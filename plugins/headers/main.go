// Command headers rewrites request and response headers from its conf:
// remove, then set (add or replace), then add, in that order, with names
// applied in sorted order so the result is deterministic. See README.md.
//
// Everything is worked out in OnPluginStart (lower-cased, sorted slices);
// a request costs the header host calls and no allocation in the plugin:
// stream contexts are recycled when their stream is done.
package main

import (
	"bytes"
	"cmp"
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

// rulesConf is one direction's rewrite as configured.
type rulesConf struct {
	Remove []string          `json:"remove"`
	Set    map[string]string `json:"set"`
	Add    map[string]string `json:"add"`
}

type configJSON struct {
	Request  rulesConf `json:"request"`
	Response rulesConf `json:"response"`
}

// header is one name (lower case) and value.
type header struct{ name, value string }

// rules is one direction's rewrite, ready to apply: names lower-cased, set
// and add sorted by name.
type rules struct {
	remove   []string
	set, add []header
}

type config struct {
	request, response rules
}

func parseConfig(data []byte) (*config, error) {
	var c configJSON
	if len(bytes.TrimSpace(data)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields() // a typo must not silently disable a rule
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("invalid conf: %w", err)
		}
	}
	return &config{request: compile(c.Request), response: compile(c.Response)}, nil
}

func compile(r rulesConf) rules {
	out := rules{set: sortedHeaders(r.Set), add: sortedHeaders(r.Add)}
	for _, name := range r.Remove {
		out.remove = append(out.remove, strings.ToLower(name))
	}
	return out
}

// sortedHeaders lower-cases the names of m and sorts by name. Names that
// differ only in case keep the value of the first in byte order.
func sortedHeaders(m map[string]string) []header {
	keys := slices.Sorted(maps.Keys(m))
	var hs []header
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		name := strings.ToLower(k)
		if !seen[name] {
			seen[name] = true
			hs = append(hs, header{name, m[k]})
		}
	}
	slices.SortFunc(hs, func(a, b header) int { return cmp.Compare(a.name, b.name) })
	return hs
}

// hostOps are the header calls of one direction.
type hostOps struct {
	remove  func(string) error
	replace func(string, string) error
	add     func(string, string) error
}

var (
	requestOps  = hostOps{proxywasm.RemoveHttpRequestHeader, proxywasm.ReplaceHttpRequestHeader, proxywasm.AddHttpRequestHeader}
	responseOps = hostOps{proxywasm.RemoveHttpResponseHeader, proxywasm.ReplaceHttpResponseHeader, proxywasm.AddHttpResponseHeader}
)

func (r *rules) apply(ops *hostOps) error {
	for _, name := range r.remove {
		if err := ops.remove(name); err != nil {
			return fmt.Errorf("remove %s: %w", name, err)
		}
	}
	for _, h := range r.set {
		if err := ops.replace(h.name, h.value); err != nil {
			return fmt.Errorf("set %s: %w", h.name, err)
		}
	}
	for _, h := range r.add {
		if err := ops.add(h.name, h.value); err != nil {
			return fmt.Errorf("add %s: %w", h.name, err)
		}
	}
	return nil
}

type vm struct{ types.DefaultVMContext }

func (*vm) NewPluginContext(uint32) types.PluginContext { return &plugin{conf: &config{}} }

type plugin struct {
	types.DefaultPluginContext
	conf *config
	// stream is every HTTP context of this plugin: a stream has no state
	// of its own (the rules are the plugin's), so one object serves all
	// of them and a request costs no allocation.
	stream stream
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

func (p *plugin) NewHttpContext(uint32) types.HttpContext {
	p.stream.plugin = p
	return &p.stream
}

// stream implements only the header callbacks; the SDK notices that the
// others are DefaultHttpContext's and Heimdall stops calling them.
type stream struct {
	types.DefaultHttpContext
	plugin *plugin
}

func (s *stream) OnHttpRequestHeaders(int, bool) types.Action {
	if err := s.plugin.conf.request.apply(&requestOps); err != nil {
		proxywasm.LogErrorf("headers: request: %v", err)
	}
	return types.ActionContinue
}

func (s *stream) OnHttpResponseHeaders(int, bool) types.Action {
	if err := s.plugin.conf.response.apply(&responseOps); err != nil {
		proxywasm.LogErrorf("headers: response: %v", err)
	}
	return types.ActionContinue
}
