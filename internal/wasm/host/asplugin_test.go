package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

// buildASPlugin builds testdata/asplugin with npm + asc, caching
// node_modules and the result under <module>/build/asplugin. Without npm the
// test fails, saying how to get it (make test installs it).
func buildASPlugin(t *testing.T) []byte {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+" (make test installs npm through scripts/test-deps.sh; or apt-get install npm)", args...)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		missing("npm not found: cannot build the AssemblyScript plugin")
	}
	root, err := wasmbuild.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(root, "internal/wasm/host/testdata/asplugin")
	files := []string{"package.json", "package-lock.json", "assembly/index.ts"}
	h := sha256.New()
	lock := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(f))
		h.Write(b)
		if f != "assembly/index.ts" {
			lock.Write(b)
		}
	}
	dir := filepath.Join(root, "build", "asplugin")
	out := filepath.Join(dir, "asplugin-"+hex.EncodeToString(h.Sum(nil))[:16]+".wasm")
	if b, err := os.ReadFile(out); err == nil {
		return b
	}
	if err := os.MkdirAll(filepath.Join(dir, "assembly"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, _ := os.ReadFile(filepath.Join(src, f))
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stamp := filepath.Join(dir, "node_modules", ".heimdall-lock")
	lockSum := hex.EncodeToString(lock.Sum(nil))
	if b, _ := os.ReadFile(stamp); string(b) != lockSum {
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if msg, err := cmd.CombinedOutput(); err != nil {
			missing("npm ci failed: %v\n%s", err, msg)
		}
		_ = os.WriteFile(stamp, []byte(lockSum), 0o644)
	}
	tmp := out + ".tmp"
	cmd := exec.Command(filepath.Join(dir, "node_modules", ".bin", "asc"), "assembly/index.ts",
		"-b", tmp, "--use", "abort=abort_proc_exit", "-O3")
	cmd.Dir = dir
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("asc failed: %v\n%s", err, msg)
	}
	if err := os.Rename(tmp, out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAssemblyScriptPlugin(t *testing.T) {
	wasm := buildASPlugin(t)
	p, err := Load(context.Background(), PluginConfig{Name: "asplugin", Wasm: wasm, PoolSize: 1, CacheDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	if got := p.Version().String(); got != "0.2.0" {
		t.Errorf("version %s", got)
	}
	f, err := p.NewFactory(context.Background(), "r1", []byte(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Several requests: the SDK must survive repeated streams on one instance.
	for i := 0; i < 3; i++ {
		x := exchange("GET", "/some/path")
		r := run(t, []filter.Factory{f}, x, nil, nil, upstream{status: 200, body: chunks("ok")})
		if r.err != nil || r.local != nil {
			t.Fatalf("err %v local %+v", r.err, r.local)
		}
		if hdr(&x.Resp.Header, "x-as-plugin") != "yes" || hdr(&x.Resp.Header, "x-as-path") != "/some/path" {
			t.Errorf("response headers %q %q", hdr(&x.Resp.Header, "x-as-plugin"), hdr(&x.Resp.Header, "x-as-path"))
		}
		x = exchange("GET", "/as-local")
		r = run(t, []filter.Factory{f}, x, nil, nil, upstream{status: 200})
		if r.local == nil || r.local.Status != 403 || string(r.local.Body) != "denied by asplugin" {
			t.Fatalf("local response %+v err %v", r.local, r.err)
		}
	}
	// And through a real listener.
	base := gateway(t, []filter.Factory{f})
	resp, _ := doHTTP(t, "GET", base+"/anything/as")
	if resp.StatusCode != 200 || resp.Header.Get("x-as-plugin") != "yes" || resp.Header.Get("x-as-path") != "/anything/as" {
		t.Errorf("via HTTP: %d %v", resp.StatusCode, resp.Header)
	}
	resp, body := doHTTP(t, "GET", base+"/as-local")
	if resp.StatusCode != 403 || body != "denied by asplugin" {
		t.Errorf("via HTTP local: %d %q", resp.StatusCode, body)
	}
}
