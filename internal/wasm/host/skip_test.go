package host

import (
	"context"
	"os"
	"testing"

	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

// TestSkippedCallbacks: the headers plugin (repo SDK) declares through
// heimdall_callbacks_v1 that everything but its header callbacks is a
// no-op once its first stream ran them; later streams leave those phases
// out (the chain never calls them), proxy_on_done is not called, and the
// headers are still rewritten. The conformance plugin (no export) keeps
// every phase.
func TestSkippedCallbacks(t *testing.T) {
	path, err := wasmbuild.Build("plugins/headers")
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load(context.Background(), PluginConfig{Name: "headers", Wasm: wasm, PoolSize: 1, CacheDir: t.TempDir(), BodyMode: BodyAlways}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	f, err := p.NewFactory(context.Background(), "r1", []byte(`{"request": {"set": {"x-a": "1"}}, "response": {"add": {"x-b": "2"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	phases := func() filter.Phase {
		t.Helper()
		x := exchange("GET", "/")
		sf, err := f.NewStreamFilter(x)
		if err != nil {
			t.Fatal(err)
		}
		defer sf.OnDone(x)
		return sf.Phases()
	}
	all := filter.PhaseRequestHeaders | filter.PhaseRequestBody | filter.PhaseRequestTrailers |
		filter.PhaseResponseHeaders | filter.PhaseResponseBody | filter.PhaseResponseTrailers | filter.PhaseLog | filter.PhaseDone
	if got := phases(); got != all {
		t.Fatalf("first stream, nothing learned yet: phases %b, want %b", got, all)
	}
	// One stream through every callback teaches the SDK.
	x := exchange("POST", "/", "content-type", "text/plain")
	r := run(t, []filter.Factory{f}, x, chunks("body"), []string{"rt", "1"},
		upstream{status: 200, body: chunks("resp"), trailer: []string{"st", "2"}})
	if r.err != nil || r.local != nil {
		t.Fatalf("first request: %v %v", r.err, r.local)
	}
	want := filter.PhaseRequestHeaders | filter.PhaseResponseHeaders | filter.PhaseDone
	if got := phases(); got != want {
		t.Fatalf("after one stream: phases %b, want %b", got, want)
	}
	x = exchange("POST", "/")
	r = run(t, []filter.Factory{f}, x, chunks("body"), nil, upstream{status: 200, body: chunks("resp")})
	if r.err != nil || r.local != nil || string(r.sentBody) != "body" || string(r.respBody) != "resp" {
		t.Fatalf("second request: %v %v %q %q", r.err, r.local, r.sentBody, r.respBody)
	}
	if v, _ := x.Req.Header.Get("x-a"); string(v) != "1" {
		t.Errorf("request header x-a = %q, want 1", v)
	}
	if v, _ := x.Resp.Header.Get("x-b"); string(v) != "2" {
		t.Errorf("response header x-b = %q, want 2", v)
	}

	conf, _ := loadConformance(t, PluginConfig{BodyMode: BodyAlways})
	cf, err := conf.NewFactory(context.Background(), "r1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	for range 2 {
		run(t, []filter.Factory{cf}, exchange("GET", "/"), nil, nil, upstream{status: 200, body: chunks("x")})
	}
	cx := exchange("GET", "/")
	sf, err := cf.NewStreamFilter(cx)
	if err != nil {
		t.Fatal(err)
	}
	defer sf.OnDone(cx)
	if got := sf.Phases(); got&all != all {
		t.Errorf("conformance plugin (no heimdall_callbacks_v1): phases %b, want all", got)
	}
}
