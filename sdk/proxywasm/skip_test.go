package proxywasm_test

import (
	"slices"
	"testing"

	"github.com/heimdallgw/heimdall/sdk/proxywasm/proxytest"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

// Contexts for the callback-skip tests.

// headersOnly overrides the header callbacks only.
type headersOnly struct{ types.DefaultHttpContext }

func (headersOnly) OnHttpRequestHeaders(int, bool) types.Action  { return types.ActionContinue }
func (headersOnly) OnHttpResponseHeaders(int, bool) types.Action { return types.ActionContinue }

// delegating counts response body bytes, then calls the embedded default:
// not a no-op.
type delegating struct {
	types.DefaultHttpContext
	n *int
}

func (d delegating) OnHttpResponseBody(size int, eos bool) types.Action {
	*d.n += size
	return d.DefaultHttpContext.OnHttpResponseBody(size, eos)
}

// wrapper embeds the interface: its promoted methods call whatever it
// holds, which may differ between contexts.
type wrapper struct{ types.HttpContext }

type skipVM struct {
	types.DefaultVMContext
	newCtx func(id uint32) types.HttpContext
}

func (v *skipVM) NewPluginContext(uint32) types.PluginContext { return &skipPlugin{v: v} }

type skipPlugin struct {
	types.DefaultPluginContext
	v *skipVM
}

func (p *skipPlugin) NewHttpContext(id uint32) types.HttpContext { return p.v.newCtx(id) }

// fullStream runs every HTTP callback of one stream.
func fullStream(emu *proxytest.HostEmulator) {
	id := emu.InitializeHttpContext()
	emu.CallOnRequestHeaders(id, [][2]string{{":path", "/"}}, false)
	emu.CallOnRequestBody(id, []byte("req"), false)
	emu.CallOnRequestTrailers(id, [][2]string{{"t", "1"}})
	emu.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false)
	emu.CallOnResponseBody(id, []byte("resp"), false)
	emu.CallOnResponseTrailers(id, [][2]string{{"t", "2"}})
	emu.CompleteHttpContext(id)
}

func start(t *testing.T, vm *skipVM) *proxytest.HostEmulator {
	t.Helper()
	emu, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().WithVMContext(vm))
	t.Cleanup(reset)
	if !emu.StartPlugin() {
		t.Fatal("plugin did not start")
	}
	return emu
}

// TestSkippedCallbacks: the SDK learns which callbacks a context type leaves
// to DefaultHttpContext, the first time each runs, and offers them to the
// host; a callback that does its own work before calling the default, and
// every callback of a type embedding the HttpContext interface, are never
// offered; a new type withdraws the offer until it is learned.
func TestSkippedCallbacks(t *testing.T) {
	noops := []string{"proxy_on_request_body", "proxy_on_request_trailers", "proxy_on_response_body",
		"proxy_on_response_trailers", "proxy_on_log", "proxy_on_done"}

	t.Run("headers only", func(t *testing.T) {
		emu := start(t, &skipVM{newCtx: func(uint32) types.HttpContext { return headersOnly{} }})
		if got := emu.SkippedCallbacks(); !slices.Equal(got, []string{"proxy_on_done"}) {
			t.Fatalf("before any stream: %q", got)
		}
		fullStream(emu)
		if got := emu.SkippedCallbacks(); !slices.Equal(got, noops) {
			t.Fatalf("skipped %q, want %q", got, noops)
		}
	})

	t.Run("delegating", func(t *testing.T) {
		var n int
		emu := start(t, &skipVM{newCtx: func(uint32) types.HttpContext { return delegating{n: &n} }})
		fullStream(emu)
		got := emu.SkippedCallbacks()
		if slices.Contains(got, "proxy_on_response_body") || n != 4 {
			t.Fatalf("skipped %q (body bytes counted %d)", got, n)
		}
		if !slices.Contains(got, "proxy_on_request_body") || !slices.Contains(got, "proxy_on_request_headers") {
			t.Fatalf("skipped %q: the untouched defaults are missing", got)
		}
	})

	t.Run("embedded interface", func(t *testing.T) {
		emu := start(t, &skipVM{newCtx: func(uint32) types.HttpContext { return wrapper{headersOnly{}} }})
		fullStream(emu)
		if got := emu.SkippedCallbacks(); !slices.Equal(got, []string{"proxy_on_done"}) {
			t.Fatalf("skipped %q, want only proxy_on_done", got)
		}
	})

	t.Run("new type", func(t *testing.T) {
		var n, calls int
		emu := start(t, &skipVM{newCtx: func(uint32) types.HttpContext {
			calls++
			if calls == 1 {
				return headersOnly{}
			}
			return delegating{n: &n}
		}})
		fullStream(emu)
		if got := emu.SkippedCallbacks(); !slices.Equal(got, noops) {
			t.Fatalf("after the first type: %q", got)
		}
		id := emu.InitializeHttpContext() // a second type
		if got := emu.SkippedCallbacks(); !slices.Equal(got, []string{"proxy_on_done"}) {
			t.Fatalf("with an unlearned type: %q", got)
		}
		emu.CallOnResponseBody(id, []byte("xy"), true)
		if n != 2 {
			t.Fatalf("the second type's body callback counted %d bytes", n)
		}
		emu.CompleteHttpContext(id)
		got := emu.SkippedCallbacks()
		if slices.Contains(got, "proxy_on_response_body") || !slices.Contains(got, "proxy_on_log") {
			t.Fatalf("after both types: %q", got)
		}
	})
}
