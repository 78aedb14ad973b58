package dashboard_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

// TestBrowser drives Debian's chromium with playwright-core through the
// dashboard of the demo configuration: the page shows the demo route and
// the heimdall plugin, and after traffic the request counter and a
// #request_header log line, and the log filter works. The screenshot is
// saved under build/ (and to docs/dashboard.png with
// HEIMDALL_UPDATE_SCREENSHOT=1). Skipped without chromium or playwright-core
// (scripts/test-deps.sh installs both), unless CI is set.
func TestBrowser(t *testing.T) {
	root, err := wasmbuild.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "internal/dashboard/testdata/browser")
	missing := func(what string) {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s missing (CI is set): run scripts/test-deps.sh", what)
		}
		t.Skipf("%s missing: run scripts/test-deps.sh", what)
	}
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		missing("/usr/bin/chromium")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules/playwright-core")); err != nil {
		missing("playwright-core (npm ci in " + dir + ")")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node")
	}
	d := startDemo(t)
	out := filepath.Join(root, "build", "test-artifacts")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(out, "dashboard.png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "dashboard.mjs"), d.ui, d.gw, shot, t.TempDir())
	cmd.Dir = dir
	b, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "ok") {
		t.Fatalf("browser: %v\n%s\nscreenshot: %s\ngateway log:\n%.4000s", err, b, shot, d.log)
	}
	t.Logf("screenshot: %s", shot)
	if os.Getenv("HEIMDALL_UPDATE_SCREENSHOT") == "1" {
		png, err := os.ReadFile(shot)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "docs/dashboard.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
