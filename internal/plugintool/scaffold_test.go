package plugintool

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

// The scaffold round trip: the generated plugin's own tests pass, it builds
// to wasm with plain go build, inspect says it loads, and its CASES.yaml
// passes on the real host.
func TestScaffoldRoundTrip(t *testing.T) {
	root, err := wasmbuild.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "greeter")
	files, err := New(NewOptions{Name: "greeter", Dir: dir, SDK: root})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 6 {
		t.Fatalf("files %q", files)
	}
	gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	if !strings.Contains(string(gomod), "replace github.com/heimdallgw/heimdall => "+root) {
		t.Fatalf("go.mod:\n%s", gomod)
	}
	gocmd := func(env []string, args ...string) {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	gocmd(nil, "test", "./...")
	gocmd([]string{"GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0"}, "build", "-buildmode=c-shared", "-o", "greeter.wasm", ".")
	wasm := readWasm(t, filepath.Join(dir, "greeter.wasm"))

	rep, err := Inspect(context.Background(), "greeter.wasm", wasm)
	if err != nil || !rep.Loadable || !strings.Contains(rep.SDK.Name, "Heimdall's SDK") {
		t.Fatalf("inspect: %v %+v", err, rep)
	}
	r, err := Load(context.Background(), RunOptions{Name: "greeter", Wasm: wasm, CacheDir: testCacheDir})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	cs, err := LoadCases(filepath.Join(dir, "CASES.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if failed, err := RunCases(context.Background(), r, cs, TestOptions{}, &out); err != nil || failed != 0 {
		t.Fatalf("failed %d err %v\n%s", failed, err, out.String())
	}
}

func TestScaffoldInsideHeimdall(t *testing.T) {
	root, err := wasmbuild.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	// Inside Heimdall's module no go.mod is written (the plugin is a
	// package of the module, as plugins/*).
	tmp, err := os.MkdirTemp(filepath.Join(root, "build"), "_scaffold-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	files, err := New(NewOptions{Name: "x1", Dir: filepath.Join(tmp, "x1")})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if filepath.Base(f) == "go.mod" {
			t.Fatal("go.mod written inside Heimdall's module")
		}
	}
	if _, err := New(NewOptions{Name: "x1", Dir: filepath.Join(tmp, "x1")}); err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Fatalf("second scaffold into the same dir: %v", err)
	}
	if _, err := New(NewOptions{Name: "Bad_Name", Dir: filepath.Join(tmp, "y")}); err == nil {
		t.Fatal("bad name accepted")
	}
}
