package wasmbuild

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BuildAssemblyScript builds the AssemblyScript plugin in srcDir (relative to
// the module root; it holds package.json, package-lock.json and
// assembly/index.ts) with npm + asc, caching node_modules and the result
// under <module root>/build/<base of srcDir>, and returns the .wasm path.
func BuildAssemblyScript(srcDir string) (string, error) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("npm not found: cannot build the AssemblyScript plugin (make test installs npm through scripts/test-deps.sh; or apt-get install npm)")
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	src := filepath.Join(root, srcDir)
	files := []string{"package.json", "package-lock.json", "assembly/index.ts"}
	h, lock := sha256.New(), sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			return "", err
		}
		h.Write([]byte(f))
		h.Write(b)
		if f != "assembly/index.ts" {
			lock.Write(b)
		}
	}
	dir := filepath.Join(root, "build", filepath.Base(src))
	out := filepath.Join(dir, filepath.Base(src)+"-"+hex.EncodeToString(h.Sum(nil))[:16]+".wasm")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(filepath.Join(dir, "assembly"), 0o755); err != nil {
		return "", err
	}
	for _, f := range files {
		b, _ := os.ReadFile(filepath.Join(src, f))
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			return "", err
		}
	}
	stamp := filepath.Join(dir, "node_modules", ".heimdall-lock")
	lockSum := hex.EncodeToString(lock.Sum(nil))
	if b, _ := os.ReadFile(stamp); string(b) != lockSum {
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if msg, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("npm ci failed: %v\n%s", err, msg)
		}
		_ = os.WriteFile(stamp, []byte(lockSum), 0o644)
	}
	tmp, err := os.CreateTemp(dir, ".build-*.wasm")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.Command(filepath.Join(dir, "node_modules", ".bin", "asc"), "assembly/index.ts",
		"-b", tmp.Name(), "--use", "abort=abort_proc_exit", "-O3")
	cmd.Dir = dir
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("asc failed: %v\n%s", err, msg)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", err
	}
	return out, nil
}

// MustBuildAssemblyScript is BuildAssemblyScript for tests.
func MustBuildAssemblyScript(tb testing.TB, srcDir string) string {
	tb.Helper()
	p, err := BuildAssemblyScript(srcDir)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
