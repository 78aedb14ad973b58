package gateway

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/store"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

// A plugin conf the plugin rejects makes Apply return an error naming the
// route and the plugin (it used to panic: the deferred cleanup closed the
// generation through the named result, already set to nil by `return nil, err`).
func TestBuildRejectedPluginConf(t *testing.T) {
	wasm := wasmbuild.MustBuild(t, "plugins/heimdall")
	dir := t.TempDir()
	mainPath := filepath.Join(dir, "config.yaml")
	mainYAML := "wasm:\n  plugins:\n    - name: heimdall\n      priority: 7999\n      file: " + wasm + "\n"
	if err := os.WriteFile(mainPath, []byte(mainYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := config.LoadMain(mainPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	gw, err := New(ctx, m, &Logs{Error: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := gw.Close(ctx); err != nil {
			t.Error(err)
		}
	}()
	routesYAML := `routes:
  - id: good
    uri: /a/*
    upstream:
      nodes:
        "127.0.0.1:1": 1
    plugins:
      heimdall:
        conf: {"max_body_bytes": 10}
  - id: bad
    uri: /b/*
    upstream:
      nodes:
        "127.0.0.1:1": 1
    plugins:
      heimdall:
        conf: "not json"
#END
`
	routes, err := config.ParseRoutes(filepath.Join(dir, "apisix.yaml"), []byte(routesYAML), m)
	if err != nil {
		t.Fatal(err)
	}
	err = gw.Apply(ctx, &store.Snapshot{Main: m, Routes: routes, Version: 1})
	if err == nil {
		t.Fatal("Apply accepted a conf the plugin rejects")
	}
	gw.mu.Lock()
	if gw.cur != nil || len(gw.live) != 0 {
		t.Errorf("a rejected snapshot left routes (%v) or live resources (%d)", gw.cur != nil, len(gw.live))
	}
	gw.mu.Unlock()
	for _, want := range []string{"route bad", "plugin heimdall"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}
