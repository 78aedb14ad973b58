package bench

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
	"github.com/heimdallgw/heimdall/internal/wasm/engine"
	"github.com/heimdallgw/heimdall/internal/wasm/host"
)

// headersConf is the conf the side-by-side harness gives the headers plugin.
const headersConf = `{"request": {"remove": ["x-internal"], "set": {"x-env": "bench"}, "add": {"via": "heimdall"}}, "response": {"remove": ["server"], "set": {"x-frame-options": "DENY"}, "add": {"x-served-by": "heimdall"}}}`

// wasmOf builds the Go plugin in pkg (relative to the module root) and
// returns its bytes.
func wasmOf(b *testing.B, pkg string) []byte {
	b.Helper()
	data, err := os.ReadFile(wasmbuild.MustBuild(b, pkg))
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// load loads a plugin with one instance; cache may be nil (no cache).
func load(b *testing.B, name string, wasm []byte, cache *engine.Cache) *host.Plugin {
	b.Helper()
	cfg := host.PluginConfig{Name: name, Wasm: wasm, PoolSize: 1, Cache: cache, NoCache: cache == nil}
	p, err := host.Load(b.Context(), cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Close(context.WithoutCancel(b.Context())) })
	return p
}

func factory(b *testing.B, p *host.Plugin, conf string) filter.Factory {
	b.Helper()
	f, err := p.NewFactory(b.Context(), "1", []byte(conf))
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// fillRequest sets a typical small GET as the HTTP engines would: pseudo
// headers plus the headers a browser-ish client sends.
func fillRequest(x *filter.Exchange, post bool) {
	if post {
		x.Req.SetMethod([]byte("POST"))
		x.Req.Header.AddString("content-type", "application/json")
	} else {
		x.Req.SetMethod([]byte("GET"))
	}
	x.Req.SetPath([]byte("/api/v1/items?id=42"))
	x.Req.SetAuthority([]byte("api.example.com"))
	x.Req.SetScheme([]byte("http"))
	x.Req.Proto = "HTTP/1.1"
	x.Req.Header.AddString("user-agent", "Mozilla/5.0 (X11; Linux x86_64) bench/1.0")
	x.Req.Header.AddString("accept", "application/json")
	x.Req.Header.AddString("accept-encoding", "gzip, br")
	x.Req.Header.AddString("x-request-id", "5f1c2a9e-bench")
	x.Req.Header.AddString("x-forwarded-for", "10.1.2.3")
	x.Req.Header.AddString("cookie", "session=abcdef0123456789")
	x.Client, x.ClientIP, x.Local = "10.1.2.3:51234", "10.1.2.3", "127.0.0.1:9080"
	x.Start = time.Now()
}

func fillResponse(x *filter.Exchange, contentType string) {
	x.Resp.Status = 200
	x.Resp.Header.AddString("content-type", contentType)
	x.Resp.Header.AddString("date", "Wed, 25 Nov 2026 16:00:00 GMT")
	x.Resp.Header.AddString("server", "bench-upstream")
	x.Resp.Header.AddString("cache-control", "no-store")
}

// exchange runs one request through a chain of factories the way
// proxy.Proxy does: request headers (and body), response headers, response
// body when a filter wants it, log, done. Bodies are copied into x's
// scratch buffer first, as the proxy reads each chunk into its own buffer:
// filters may rewrite a chunk in place, and the next request must see the
// original bytes again.
func exchange(ctx context.Context, x *filter.Exchange, facs []filter.Factory, reqBody, respBody []byte, respType string) error {
	x.Reset()
	fillRequest(x, reqBody != nil)
	c, err := filter.NewChain(x, facs, filter.Options{})
	defer c.Done()
	if err != nil {
		return err
	}
	if err := c.RequestHeaders(ctx, reqBody == nil); err != nil {
		return err
	}
	if reqBody != nil && c.WantsRequestBody() {
		if _, err := c.RequestBody(ctx, scratch(x, reqBody), true); err != nil {
			return err
		}
	}
	fillResponse(x, respType)
	if err := c.ResponseHeaders(ctx, len(respBody) == 0); err != nil {
		return err
	}
	if len(respBody) > 0 && c.WantsResponseBody() {
		// The proxy reads bodies in 32 KiB chunks.
		const chunk = 32 << 10
		for off := 0; off < len(respBody); off += chunk {
			end := min(off+chunk, len(respBody))
			if _, err := c.ResponseBody(ctx, scratch(x, respBody[off:end]), end == len(respBody)); err != nil {
				return err
			}
		}
	}
	if lr := x.LocalResponse(); lr != nil {
		return fmt.Errorf("unexpected local response %d: %s", lr.Status, lr.Details)
	}
	c.Log()
	return nil
}

// scratches are the per-Exchange chunk buffers of scratch.
var scratches sync.Map // *filter.Exchange → *[]byte

// scratch copies b into a buffer owned by x and returns the copy.
func scratch(x *filter.Exchange, b []byte) []byte {
	v, ok := scratches.Load(x)
	if !ok {
		v, _ = scratches.LoadOrStore(x, new([]byte))
	}
	p := v.(*[]byte)
	*p = append((*p)[:0], b...)
	return *p
}

var smallBody = []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")

// BenchmarkChain is one GET through 0, 1 and 3 wasm plugins (the headers
// plugin, each a separately loaded plugin with its own instance), the
// 128-byte response body included. Plugins=0 is the Chain's own cost.
func BenchmarkChain(b *testing.B) {
	wasm := wasmOf(b, "plugins/headers")
	cache := engine.NewMemoryCache()
	var facs []filter.Factory
	for i := range 3 {
		facs = append(facs, factory(b, load(b, fmt.Sprintf("headers%d", i), wasm, cache), headersConf))
	}
	for _, n := range []int{0, 1, 3} {
		b.Run(fmt.Sprintf("plugins=%d", n), func(b *testing.B) {
			ctx := b.Context()
			x := new(filter.Exchange)
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				if err := exchange(ctx, x, facs[:n], nil, smallBody, "text/plain"); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
		})
	}
}

// BenchmarkChainNoopPlugin is one GET through a Go plugin (the repo SDK)
// whose callbacks do nothing: the floor of any Go plugin (guest entry and
// exit, SDK dispatch, the engine's call set-up) on every callback. The
// example plugins alone are internal/wasm/host's BenchmarkRequestHeadersPlugin
// and BenchmarkRequestHeimdallPlugin.
func BenchmarkChainNoopPlugin(b *testing.B) {
	f := factory(b, load(b, "noop", wasmOf(b, "bench/testdata/hostcalls"), nil), `{"op": "none", "n": 0}`)
	ctx := b.Context()
	x := new(filter.Exchange)
	facs := []filter.Factory{f}
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		if err := exchange(ctx, x, facs, nil, smallBody, "text/plain"); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// BenchmarkChainJSONMask is a JSON response of 1 KiB and 64 KiB buffered
// and rewritten by the jsonmask plugin.
func BenchmarkChainJSONMask(b *testing.B) {
	f := factory(b, load(b, "jsonmask", wasmOf(b, "plugins/jsonmask"), nil), `{"fields": ["password", "ssn"]}`)
	facs := []filter.Factory{f}
	for _, size := range []int{1 << 10, 64 << 10} {
		body := jsonBody(size)
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			ctx := b.Context()
			x := new(filter.Exchange)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			cpu := startCPU()
			for b.Loop() {
				if err := exchange(ctx, x, facs, nil, body, "application/json"); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
		})
	}
}

// jsonBody is a JSON document of about n bytes with fields to mask.
func jsonBody(n int) []byte {
	out := []byte(`{"items":[`)
	for i := 0; len(out) < n-64; i++ {
		if i > 0 {
			out = append(out, ',')
		}
		out = fmt.Appendf(out, `{"id":%d,"user":"user%d","password":"secret%d"}`, i, i, i)
	}
	return append(out, "]}"...)
}
