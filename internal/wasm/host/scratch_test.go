package host

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

// TestScratchBuffer: a guest built with the repo's SDK offers its scratch
// buffer (heimdall_scratch_v1) and gets small results there, large ones
// from its allocator; a guest without the export (the conformance plugin)
// keeps the standard ABI.
func TestScratchBuffer(t *testing.T) {
	scratchOf := func(p *Plugin) uint32 {
		t.Helper()
		slot := p.eng.Slots()[0]
		inst, err := slot.Lock(context.Background())
		defer slot.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		return p.vmOf(inst).scratchSize
	}
	conf, _ := loadConformance(t, PluginConfig{})
	if n := scratchOf(conf); n != 0 {
		t.Errorf("conformance plugin: scratch size %d, want 0", n)
	}
	path, err := wasmbuild.Build("plugins/heimdall")
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lb bytes.Buffer // the plugin logs from this goroutine only (pool of 1, no tick)
	p, err := Load(context.Background(), PluginConfig{Name: "heimdall", Wasm: wasm, PoolSize: 1, CacheDir: t.TempDir()}, slog.New(slog.NewTextHandler(&lb, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	if n := scratchOf(p); n != 4096 {
		t.Errorf("heimdall plugin: scratch size %d, want 4096", n)
	}
	f, err := p.NewFactory(context.Background(), "r1", []byte(`{"max_body_bytes": 100000}`))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	small := "small-body"
	large := strings.Repeat("0123456789", 1000) // > 4096: through the allocator
	x := exchange("POST", "/anything", "host", "example.com", "x-long", strings.Repeat("v", 5000))
	r := run(t, []filter.Factory{f}, x, chunks(small), nil, upstream{status: 200, header: []string{"x-resp", "1"}, body: chunks(large)})
	if r.err != nil || r.local != nil {
		t.Fatalf("%+v", r)
	}
	out := lb.String()
	for _, want := range []string{"host: example.com", "x-long: " + strings.Repeat("v", 5000), "#request_body 2 -> " + small, "#response_body 2 <- " + large, "x-resp: 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %.80q", want)
		}
	}
}
