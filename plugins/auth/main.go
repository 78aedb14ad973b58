// Command auth checks an API key on every request: the key is read from a
// request header named in the conf and compared with the conf's key list.
// A missing key gets a local 401 with WWW-Authenticate, a wrong one a local
// 403; a valid one continues upstream. See README.md.
package main

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/heimdallgw/heimdall/sdk/proxywasm"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vm{}) }

type config struct {
	// Header carries the key (default "x-api-key").
	Header string `json:"header"`
	// Keys are the accepted keys; at least one is required.
	Keys []string `json:"keys"`
	// HideCredentials removes the key header before the request goes
	// upstream.
	HideCredentials bool `json:"hide_credentials"`
}

func parseConfig(data []byte) (*config, error) {
	c := config{Header: "x-api-key"}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("invalid conf: %w", err)
	}
	c.Header = strings.ToLower(strings.TrimSpace(c.Header))
	if c.Header == "" {
		return nil, errors.New("invalid conf: header must not be empty")
	}
	if len(c.Keys) == 0 {
		return nil, errors.New("invalid conf: keys must list at least one key")
	}
	for _, k := range c.Keys {
		if k == "" {
			return nil, errors.New("invalid conf: keys must not be empty strings")
		}
	}
	return &c, nil
}

// valid compares in constant time against every key, so the time taken
// does not reveal which key (or how much of one) matched.
func (c *config) valid(key string) bool {
	ok := 0
	for _, k := range c.Keys {
		ok |= subtle.ConstantTimeCompare([]byte(key), []byte(k))
	}
	return ok == 1
}

type vm struct{ types.DefaultVMContext }

func (*vm) NewPluginContext(uint32) types.PluginContext { return &plugin{} }

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
		proxywasm.LogErrorf("auth: %v", err)
		return false
	}
	return true
}

func (p *plugin) NewHttpContext(id uint32) types.HttpContext {
	if p.conf == nil {
		return nil // never configured: the host rejected the plugin
	}
	return &stream{id: id, conf: p.conf}
}

type stream struct {
	types.DefaultHttpContext
	id   uint32
	conf *config
}

const (
	bodyMissing = `{"message":"missing API key"}` + "\n"
	bodyInvalid = `{"message":"invalid API key"}` + "\n"
)

func (s *stream) OnHttpRequestHeaders(int, bool) types.Action {
	key, err := proxywasm.GetHttpRequestHeader(s.conf.Header)
	switch {
	case errors.Is(err, types.ErrorStatusNotFound) || (err == nil && key == ""):
		s.deny(401, bodyMissing, [2]string{"www-authenticate", `ApiKey header="` + s.conf.Header + `"`})
		return types.ActionPause
	case err != nil:
		proxywasm.LogErrorf("auth: %d: reading %s: %v", s.id, s.conf.Header, err)
		s.deny(403, bodyInvalid)
		return types.ActionPause
	case !s.conf.valid(key):
		s.deny(403, bodyInvalid)
		return types.ActionPause
	}
	if s.conf.HideCredentials {
		if err := proxywasm.RemoveHttpRequestHeader(s.conf.Header); err != nil {
			proxywasm.LogWarnf("auth: %d: removing %s: %v", s.id, s.conf.Header, err)
		}
	}
	return types.ActionContinue
}

func (s *stream) deny(status uint32, body string, extra ...[2]string) {
	headers := append([][2]string{{"content-type", "application/json"}}, extra...)
	if err := proxywasm.SendHttpResponse(status, headers, []byte(body), proxywasm.GRPCStatusNone); err != nil {
		proxywasm.LogErrorf("auth: %d: sending %d: %v", s.id, status, err)
		return
	}
	proxywasm.LogInfof("auth: %d: rejected with %d", s.id, status)
}
