// Package wasmbuild compiles Go plugins to wasm for tests, from source, the
// way users build them: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared.
//
// Builds are cached under <module root>/build/testwasm by a hash of the
// plugin's sources, the SDK and go.mod/go.sum, so the many test packages that
// load the same plugin compile it once per change, and concurrent test
// binaries never see a half-written file (results are renamed into place).
package wasmbuild

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// ModuleRoot returns the directory holding go.mod, searching upward from the
// working directory (a test's package directory).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("wasmbuild: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Build compiles the main package in pkgDir (absolute, or relative to the
// module root, e.g. "plugins/heimdall") and returns the path of the .wasm.
func Build(pkgDir string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(pkgDir) {
		pkgDir = filepath.Join(root, pkgDir)
	}
	h := sha256.New()
	fmt.Fprintln(h, runtime.Version(), pkgDir)
	for _, p := range []string{pkgDir, filepath.Join(root, "sdk")} {
		if err := hashTree(h, p); err != nil {
			return "", err
		}
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		if err := hashFile(h, filepath.Join(root, f)); err != nil {
			return "", err
		}
	}
	sum := hex.EncodeToString(h.Sum(nil))[:16]
	outDir := filepath.Join(root, "build", "testwasm")
	out := filepath.Join(outDir, filepath.Base(pkgDir)+"-"+sum+".wasm")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(outDir, ".build-*.wasm")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", tmp.Name(), ".")
	cmd.Dir = pkgDir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s for wasip1: %v\n%s", pkgDir, err, msg)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", err
	}
	return out, nil
}

// MustBuild is Build for tests: it fails the test on error.
func MustBuild(tb testing.TB, pkgDir string) string {
	tb.Helper()
	p, err := Build(pkgDir)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func hashTree(h io.Writer, dir string) error {
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "node_modules" || d.Name() == "testdata" && p != dir {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") && d.Name() != "go.mod" {
			return nil
		}
		fmt.Fprintln(h, p)
		return hashFile(h, p)
	})
}

func hashFile(h io.Writer, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(h, f)
	return err
}
