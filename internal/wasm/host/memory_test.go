package host

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"testing"

	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

// TestSeedPluginMemoryFlat: 100k requests with bodies through the heimdall
// plugin (built with our SDK, which keeps guest allocations alive only
// until the callback that asked for them returns) do not grow the
// instance's memory once it has warmed up. A leak of even a few bytes per
// request would add pages over 80k requests.
func TestSeedPluginMemoryFlat(t *testing.T) {
	t.Parallel()
	path := wasmbuild.MustBuild(t, "plugins/heimdall")
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// At info the plugin does all of its work (every header and both bodies
	// read and logged); the lines themselves are discarded.
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx := context.Background()
	p, err := Load(ctx, PluginConfig{Name: "heimdall", Wasm: wasm, PoolSize: 1, CacheDir: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	f, err := p.NewFactory(ctx, "r1", []byte(`{"max_body_bytes": 256}`))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	const warmup, total = 20_000, 100_000
	var warm uint32
	for i := 1; i <= total; i++ {
		x := exchange("POST", "/anything/"+strconv.Itoa(i), "content-type", "text/plain", "x-seq", strconv.Itoa(i))
		r := run(t, []filter.Factory{f}, x, chunks("request body ", strconv.Itoa(i)), nil,
			upstream{status: 200, header: []string{"content-type", "text/plain"}, body: chunks("response ", strconv.Itoa(i))})
		if r.err != nil || r.local != nil {
			t.Fatalf("request %d: %+v", i, r)
		}
		if i == warmup {
			warm = p.InstanceMemory()[0]
		}
	}
	end := p.InstanceMemory()[0]
	t.Logf("instance memory: %d pages after %d requests, %d pages after %d", warm/65536, warmup, end/65536, total)
	if warm == 0 || end != warm {
		t.Fatalf("instance memory grew from %d to %d bytes between request %d and %d", warm, end, warmup, total)
	}
}
