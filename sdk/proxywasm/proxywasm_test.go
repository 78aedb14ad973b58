package proxywasm_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/sdk/proxywasm"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/proxytest"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

// probe is a plugin whose callbacks run a test-provided function, so each
// test exercises host calls from inside a real callback.
type probe struct {
	types.DefaultVMContext
	types.DefaultPluginContext
	types.DefaultHttpContext
	onStart    func() bool
	onReqHdrs  func() types.Action
	onReqBody  func(size int, eos bool) types.Action
	onRespHdrs func() types.Action
	onTick     func()
	onQueue    func(uint32)
	onForeign  func(id uint32, size int)
	done       int
}

func (p *probe) NewPluginContext(uint32) types.PluginContext { return p }
func (p *probe) NewHttpContext(uint32) types.HttpContext     { return p }
func (p *probe) OnPluginStart(int) bool {
	if p.onStart != nil {
		return p.onStart()
	}
	return true
}
func (p *probe) OnHttpRequestHeaders(int, bool) types.Action {
	if p.onReqHdrs != nil {
		return p.onReqHdrs()
	}
	return types.ActionContinue
}
func (p *probe) OnHttpRequestBody(size int, eos bool) types.Action {
	if p.onReqBody != nil {
		return p.onReqBody(size, eos)
	}
	return types.ActionContinue
}
func (p *probe) OnHttpResponseHeaders(int, bool) types.Action {
	if p.onRespHdrs != nil {
		return p.onRespHdrs()
	}
	return types.ActionContinue
}
func (p *probe) OnTick() {
	if p.onTick != nil {
		p.onTick()
	}
}
func (p *probe) OnQueueReady(id uint32) {
	if p.onQueue != nil {
		p.onQueue(id)
	}
}
func (p *probe) OnForeignFunction(id uint32, size int) {
	if p.onForeign != nil {
		p.onForeign(id, size)
	}
}
func (p *probe) OnHttpStreamDone() { p.done++ }

func run(t *testing.T, p *probe, opt *proxytest.EmulatorOption) *proxytest.HostEmulator {
	t.Helper()
	if opt == nil {
		opt = proxytest.NewEmulatorOption()
	}
	host, reset := proxytest.NewHostEmulator(opt.WithVMContext(p))
	t.Cleanup(reset)
	if !host.StartVM() || !host.StartPlugin() {
		t.Fatal("plugin did not start")
	}
	return host
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestHeaderCalls(t *testing.T) {
	p := &probe{}
	host := run(t, p, nil)
	p.onReqHdrs = func() types.Action {
		v, err := proxywasm.GetHttpRequestHeader("X-A")
		if err != nil || v != "1" {
			t.Errorf("GetHttpRequestHeader = %q, %v", v, err)
		}
		if _, err := proxywasm.GetHttpRequestHeader("absent"); !errors.Is(err, types.ErrorStatusNotFound) {
			t.Errorf("absent header: %v", err)
		}
		must(t, proxywasm.AddHttpRequestHeader("x-a", "2"))
		must(t, proxywasm.ReplaceHttpRequestHeader("x-b", "new"))
		must(t, proxywasm.RemoveHttpRequestHeader("x-c"))
		hs, err := proxywasm.GetHttpRequestHeaders()
		must(t, err)
		want := [][2]string{{":path", "/"}, {"x-a", "1"}, {"x-b", "new"}, {"x-a", "2"}}
		if !slices.Equal(hs, want) {
			t.Errorf("headers %q, want %q", hs, want)
		}
		return types.ActionContinue
	}
	p.onRespHdrs = func() types.Action {
		must(t, proxywasm.ReplaceHttpResponseHeaders([][2]string{{":status", "201"}, {"x-r", "1"}}))
		return types.ActionContinue
	}
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, [][2]string{{":path", "/"}, {"X-A", "1"}, {"x-b", "old"}, {"x-c", "gone"}}, false)
	host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false)
	if got := host.Stream(id).ResponseHeaders; !slices.Equal(got, [][2]string{{":status", "201"}, {"x-r", "1"}}) {
		t.Errorf("response headers %q", got)
	}
}

// TestResultsOutliveLaterHostCalls: the emulator, like Heimdall's host,
// returns results in a buffer the next host call overwrites; what the SDK
// returns must be copies.
func TestResultsOutliveLaterHostCalls(t *testing.T) {
	p := &probe{}
	opt := proxytest.NewEmulatorOption().WithProperty([]string{"plugin_name"}, []byte("probe"))
	host := run(t, p, opt)
	p.onReqBody = func(size int, eos bool) types.Action {
		a, err := proxywasm.GetHttpRequestHeader("x-a")
		must(t, err)
		hs, err := proxywasm.GetHttpRequestHeaders()
		must(t, err)
		body, err := proxywasm.GetHttpRequestBody(0, size)
		must(t, err)
		name, err := proxywasm.GetProperty([]string{"plugin_name"})
		must(t, err)
		if _, err := proxywasm.GetHttpRequestHeader("x-b"); err != nil {
			t.Fatal(err)
		}
		if a != "aaaa" {
			t.Errorf("header value %q", a)
		}
		if want := [][2]string{{"x-a", "aaaa"}, {"x-b", "bbbbbbbbbbbbbbbbbbbb"}}; !slices.Equal(hs, want) {
			t.Errorf("headers %q, want %q", hs, want)
		}
		if string(body) != "body body body" || string(name) != "probe" {
			t.Errorf("body %q, property %q", body, name)
		}
		return types.ActionContinue
	}
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, [][2]string{{"x-a", "aaaa"}, {"x-b", "bbbbbbbbbbbbbbbbbbbb"}}, false)
	host.CallOnRequestBody(id, []byte("body body body"), true)
}

func TestBodyCalls(t *testing.T) {
	p := &probe{}
	host := run(t, p, nil)
	p.onReqBody = func(size int, eos bool) types.Action {
		if !eos {
			return types.ActionPause // host buffers
		}
		b, err := proxywasm.GetHttpRequestBody(0, size)
		must(t, err)
		if string(b) != "hello world" {
			t.Errorf("buffered body %q", b)
		}
		part, err := proxywasm.GetHttpRequestBody(6, 100)
		must(t, err)
		if string(part) != "world" {
			t.Errorf("partial read %q", part)
		}
		must(t, proxywasm.ReplaceHttpRequestBody([]byte("HI")))
		must(t, proxywasm.AppendHttpRequestBody([]byte("!")))
		must(t, proxywasm.PrependHttpRequestBody([]byte(">")))
		return types.ActionContinue
	}
	id := host.InitializeHttpContext()
	if a := host.CallOnRequestBody(id, []byte("hello "), false); a != types.ActionPause {
		t.Fatalf("action %v", a)
	}
	host.CallOnRequestBody(id, []byte("world"), true)
	if got := string(host.Stream(id).RequestBody); got != ">HI!" {
		t.Errorf("body %q", got)
	}
}

func TestLocalResponseAndResume(t *testing.T) {
	p := &probe{}
	host := run(t, p, nil)
	p.onReqHdrs = func() types.Action {
		must(t, proxywasm.SendHttpResponse(418, [][2]string{{"X-Why", "tea"}}, []byte("short and stout"), proxywasm.GRPCStatusNone))
		return types.ActionPause
	}
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, nil, true)
	lr := host.Stream(id).LocalResponse
	if lr == nil || lr.StatusCode != 418 || string(lr.Body) != "short and stout" ||
		!slices.Equal(lr.Headers, [][2]string{{"x-why", "tea"}}) || lr.GRPCStatus != -1 {
		t.Fatalf("local response %+v", lr)
	}
}

func TestHttpCallRunsCallbackOnDispatchingStream(t *testing.T) {
	p := &probe{}
	host := run(t, p, nil)
	var stream uint32
	p.onReqHdrs = func() types.Action {
		_, err := proxywasm.DispatchHttpCall("authz", [][2]string{{":method", "GET"}, {":path", "/check"}}, nil, nil, 100, nil)
		if !errors.Is(err, types.ErrorStatusBadArgument) {
			t.Errorf("call without :authority: %v", err)
		}
		_, err = proxywasm.DispatchHttpCall("authz",
			[][2]string{{":method", "GET"}, {":path", "/check"}, {":authority", "authz"}}, []byte("q"), nil, 100,
			func(numHeaders, bodySize, _ int) {
				hs, err := proxywasm.GetHttpCallResponseHeaders()
				must(t, err)
				body, err := proxywasm.GetHttpCallResponseBody(0, bodySize)
				must(t, err)
				if numHeaders != 1 || hs[0][1] != "200" || string(body) != "allow" {
					t.Errorf("answer %d %q %q", numHeaders, hs, body)
				}
				code, _, err := proxywasm.GetStatus()
				if err != nil || code != 200 {
					t.Errorf("GetStatus = %d, %v", code, err)
				}
				must(t, proxywasm.AddHttpRequestHeader("x-authz", "ok")) // acts on the stream
				must(t, proxywasm.ResumeHttpRequest())
			})
		must(t, err)
		return types.ActionPause
	}
	stream = host.InitializeHttpContext()
	host.CallOnRequestHeaders(stream, [][2]string{{":path", "/"}}, true)
	calls := host.HttpCallouts()
	if len(calls) != 1 || calls[0].Upstream != "authz" || calls[0].ContextID != stream || string(calls[0].Body) != "q" {
		t.Fatalf("callouts %+v", calls)
	}
	host.CallOnHttpCallResponse(calls[0].ID, [][2]string{{":status", "200"}}, []byte("allow"), nil)
	st := host.Stream(stream)
	if st.RequestResumed != 1 || !slices.Contains(st.RequestHeaders, [2]string{"x-authz", "ok"}) {
		t.Errorf("stream after callback %+v", st)
	}
	if len(host.HttpCallouts()) != 0 {
		t.Error("callout still pending")
	}
}

func TestPluginLevelCalls(t *testing.T) {
	p := &probe{}
	clock := time.Unix(1700000000, 5)
	opt := proxytest.NewEmulatorOption().
		WithPluginConfiguration([]byte("conf")).
		WithVMConfiguration([]byte("vmconf")).
		WithLogLevel(types.LogLevelInfo).
		WithClock(func() time.Time { return clock }).
		WithProperty([]string{"plugin_name"}, []byte("probe")).
		WithForeignFunction("double", func(b []byte) ([]byte, error) { return append(b, b...), nil })
	p.onStart = func() bool {
		conf, err := proxywasm.GetPluginConfiguration()
		must(t, err)
		vmconf, err := proxywasm.GetVMConfiguration()
		must(t, err)
		if string(conf) != "conf" || string(vmconf) != "vmconf" {
			t.Errorf("confs %q %q", conf, vmconf)
		}
		return true
	}
	host := run(t, p, opt)

	p.onTick = func() {
		name, err := proxywasm.GetProperty([]string{"plugin_name"})
		if err != nil || string(name) != "probe" {
			t.Errorf("plugin_name = %q, %v", name, err)
		}
		if _, err := proxywasm.GetProperty([]string{"no", "such"}); !errors.Is(err, types.ErrorStatusNotFound) {
			t.Errorf("unknown property: %v", err)
		}
		must(t, proxywasm.SetProperty([]string{"a", "b"}, []byte("v")))
		now, err := proxywasm.GetCurrentTime()
		if err != nil || !now.Equal(clock) {
			t.Errorf("time %v, %v", now, err)
		}
		if lvl, err := proxywasm.GetLogLevel(); err != nil || lvl != types.LogLevelInfo {
			t.Errorf("log level %v, %v", lvl, err)
		}
		proxywasm.LogDebug("dropped")
		proxywasm.LogWarnf("kept %d", 1)
		must(t, proxywasm.SetTickPeriodMilliSeconds(250))

		must(t, proxywasm.SetSharedData("k", []byte("v1"), 0))
		v, cas, err := proxywasm.GetSharedData("k")
		must(t, err)
		if err := proxywasm.SetSharedData("k", []byte("v2"), cas+1); !errors.Is(err, types.ErrorStatusCasMismatch) {
			t.Errorf("stale cas: %v", err)
		}
		must(t, proxywasm.SetSharedData("k", []byte("v2"), cas))
		if string(v) != "v1" {
			t.Errorf("shared %q", v)
		}

		q, err := proxywasm.RegisterSharedQueue("jobs")
		must(t, err)
		if r, err := proxywasm.ResolveSharedQueue("", "jobs"); err != nil || r != q {
			t.Errorf("resolve %d, %v", r, err)
		}
		must(t, proxywasm.EnqueueSharedQueue(q, []byte("j1")))

		c, err := proxywasm.DefineCounterMetric("requests")
		must(t, err)
		must(t, c.Increment(3))
		g, err := proxywasm.DefineGaugeMetric("inflight")
		must(t, err)
		must(t, g.Add(5))
		must(t, g.Add(-2))
		if v, err := g.Value(); err != nil || v != 3 {
			t.Errorf("gauge %d, %v", v, err)
		}
		hist, err := proxywasm.DefineHistogramMetric("sizes")
		must(t, err)
		must(t, hist.Record(10))

		out, err := proxywasm.CallForeignFunction("double", []byte("ab"))
		if err != nil || string(out) != "abab" {
			t.Errorf("foreign %q, %v", out, err)
		}
		if _, err := proxywasm.CallForeignFunction("missing", nil); !errors.Is(err, types.ErrorStatusNotFound) {
			t.Errorf("missing foreign function: %v", err)
		}
	}
	host.Tick()

	if v, ok := host.Property([]string{"a", "b"}); !ok || string(v) != "v" {
		t.Errorf("property a.b = %q", v)
	}
	if host.TickPeriod() != 250 {
		t.Errorf("tick period %d", host.TickPeriod())
	}
	if got := host.Logs(types.LogLevelWarn); !slices.Equal(got, []string{"kept 1"}) || len(host.Logs(types.LogLevelDebug)) != 0 {
		t.Errorf("logs %+v", host.AllLogs())
	}
	if v, cas, _ := host.SharedData("k"); string(v) != "v2" || cas != 2 {
		t.Errorf("shared k = %q cas %d", v, cas)
	}
	if c, _ := host.Metric("requests"); c != 3 {
		t.Errorf("counter %d", c)
	}

	var got []byte
	p.onQueue = func(id uint32) {
		var err error
		got, err = proxywasm.DequeueSharedQueue(id)
		must(t, err)
		if _, err := proxywasm.DequeueSharedQueue(id); !errors.Is(err, types.ErrorStatusEmpty) {
			t.Errorf("empty queue: %v", err)
		}
	}
	host.CallOnQueueReady(1)
	if string(got) != "j1" {
		t.Errorf("dequeued %q", got)
	}

	var args []byte
	p.onForeign = func(_ uint32, size int) {
		var err error
		args, err = proxywasm.GetForeignFunctionArguments()
		must(t, err)
		if size != len(args) {
			t.Errorf("size %d for %q", size, args)
		}
	}
	host.CallOnForeignFunction(7, []byte("xyz"))
	if string(args) != "xyz" {
		t.Errorf("foreign args %q", args)
	}
}

func TestStreamContextsAreReleased(t *testing.T) {
	p := &probe{}
	host := run(t, p, nil)
	for range 100 {
		id := host.InitializeHttpContext()
		host.CallOnRequestHeaders(id, [][2]string{{":path", "/"}}, true)
		host.CompleteHttpContext(id)
	}
	if p.done != 100 {
		t.Errorf("OnHttpStreamDone ran %d times, want 100", p.done)
	}
	if plugins, https := host.LiveContexts(); plugins != 1 || https != 0 {
		t.Errorf("live contexts: %d plugins, %d http", plugins, https)
	}
}

func TestRejectedConfiguration(t *testing.T) {
	p := &probe{onStart: func() bool { return false }}
	host, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().WithVMContext(p))
	defer reset()
	if host.StartPlugin() {
		t.Fatal("StartPlugin() = true, want false")
	}
}
