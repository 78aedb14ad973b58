package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/store"
	"github.com/heimdallgw/heimdall/internal/testutil/gwtest"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

// TestReloadReusesUnchangedResources: a reload re-configures only the plugin
// configurations that changed and keeps unchanged upstreams (and their
// keep-alive pools); what no generation uses any more is closed.
func TestReloadReusesUnchangedResources(t *testing.T) {
	wasm := wasmbuild.MustBuild(t, "plugins/heimdall")
	dir := t.TempDir()
	mainYAML := fmt.Sprintf("wasm:\n  plugins:\n    - name: heimdall\n      priority: 1\n      file: %s\n      pool_size: 1\n", wasm)
	gwtest.WriteFile(t, filepath.Join(dir, "config.yaml"), mainYAML)
	m, err := config.LoadMain(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	gw, err := New(ctx, m, &Logs{Error: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close(ctx)

	routes := func(confB, nodeB string) *store.Snapshot {
		text := fmt.Sprintf(`routes:
  - id: a
    uri: /a
    plugins:
      heimdall:
        conf: {"max_body_bytes": 1}
    upstream:
      nodes: {"127.0.0.1:1": 1}
  - id: b
    uri: /b
    plugins:
      heimdall:
        conf: {"max_body_bytes": %s}
    upstream:
      nodes: {"%s": 1}
#END
`, confB, nodeB)
		r, err := config.ParseRoutes(filepath.Join(dir, "apisix.yaml"), []byte(text), m)
		if err != nil {
			t.Fatal(err)
		}
		return &store.Snapshot{Main: m, Routes: r, Version: 1}
	}
	liveOf := func() map[string]io.Closer {
		gw.mu.Lock()
		defer gw.mu.Unlock()
		out := make(map[string]io.Closer)
		for k, r := range gw.live {
			out[k] = r.c
		}
		return out
	}

	if err := gw.Apply(ctx, routes("2", "127.0.0.1:2")); err != nil {
		t.Fatal(err)
	}
	before := liveOf()
	if len(before) != 4 {
		t.Fatalf("live resources = %d, want 2 plugin configurations + 2 upstreams", len(before))
	}
	// Route b changes its plugin conf only.
	if err := gw.Apply(ctx, routes("3", "127.0.0.1:2")); err != nil {
		t.Fatal(err)
	}
	gw.bg.Wait()
	after := liveOf()
	if len(after) != 4 {
		t.Fatalf("after reload: %d live resources, want 4 (the old conf of b released)", len(after))
	}
	for _, key := range []string{
		factoryKey("heimdall", "a", `{"max_body_bytes":1}`),
	} {
		if before[key] == nil || before[key] != after[key] {
			t.Errorf("unchanged plugin configuration %q was rebuilt", key)
		}
	}
	if _, ok := after[factoryKey("heimdall", "b", `{"max_body_bytes":2}`)]; ok {
		t.Error("route b's old plugin configuration is still live")
	}
	if _, ok := after[factoryKey("heimdall", "b", `{"max_body_bytes":3}`)]; !ok {
		t.Errorf("route b's new plugin configuration is not live: %v", keys(after))
	}
	same := 0
	for k, c := range after {
		if before[k] == c {
			same++
		}
	}
	if same != 3 {
		t.Errorf("%d resources carried over, want 3 (a's configuration, both upstreams)", same)
	}

	// A rejected reload leaves the live set untouched.
	bad := routes("3", "127.0.0.1:2")
	bad.Routes.Routes[1].Wasm[0].Conf = "not json"
	if err := gw.Apply(ctx, bad); err == nil {
		t.Fatal("a rejected plugin conf was applied")
	}
	if got := liveOf(); len(got) != 4 {
		t.Fatalf("rejected reload changed the live resources: %v", keys(got))
	}
}

func keys(m map[string]io.Closer) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
