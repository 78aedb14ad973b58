// Command httpget is the seed's network example: when configured it
// resolves a name and GETs a URL through the host's sockets, logging the
// status, each header and the body.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o httpget.wasm .
// Configuration: README.md in this directory.
package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/heimdallgw/heimdall/sdk/proxywasm"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
	"github.com/heimdallgw/heimdall/sdk/wasinet"
)

func main() {}

func init() { proxywasm.SetVMContext(&vm{}) }

type config struct {
	Resolve string `json:"resolve"` // a name to resolve and log
	URL     string `json:"url"`     // the URL to GET
	Timeout string `json:"timeout"` // default 5s
}

type vm struct{ types.DefaultVMContext }

func (*vm) NewPluginContext(uint32) types.PluginContext { return &plugin{} }

type plugin struct{ types.DefaultPluginContext }

func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	data, err := proxywasm.GetPluginConfiguration()
	if err != nil {
		proxywasm.LogErrorf("httpget: reading conf: %v", err)
		return types.OnPluginStartStatusFailed
	}
	var c config
	if err := json.Unmarshal(data, &c); err != nil || c.URL == "" {
		proxywasm.LogErrorf("httpget: invalid conf %q: want {\"url\": ..., \"resolve\": ...}", data)
		return types.OnPluginStartStatusFailed
	}
	timeout := 5 * time.Second
	if c.Timeout != "" {
		if timeout, err = time.ParseDuration(c.Timeout); err != nil {
			proxywasm.LogErrorf("httpget: invalid timeout %q", c.Timeout)
			return types.OnPluginStartStatusFailed
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if c.Resolve != "" {
		addrs, err := wasinet.LookupHost(ctx, c.Resolve)
		if err != nil {
			proxywasm.LogErrorf("httpget: resolving %s: %v", c.Resolve, err)
		} else {
			proxywasm.LogInfof("%s: %s", c.Resolve, strings.Join(addrs, " "))
		}
	}
	var d wasinet.Dialer
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
	if err != nil {
		proxywasm.LogErrorf("httpget: %v", err)
		return types.OnPluginStartStatusFailed
	}
	resp, err := client.Do(req)
	if err != nil {
		// The route still loads; the failure is in the log.
		proxywasm.LogErrorf("httpget: GET %s: %v", c.URL, err)
		return types.OnPluginStartStatusOK
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		proxywasm.LogErrorf("httpget: reading body: %v", err)
	}
	proxywasm.LogInfof("Status: %s", resp.Status)
	keys := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range resp.Header[k] {
			proxywasm.LogInfof("%s: %s", k, v)
		}
	}
	proxywasm.LogInfof("%s", body)
	return types.OnPluginStartStatusOK
}
