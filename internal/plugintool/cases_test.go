package plugintool

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

func loadRunner(t *testing.T, name, pkg string) *Runner {
	t.Helper()
	r, err := Load(context.Background(), RunOptions{Name: name, Wasm: readWasm(t, wasmbuild.MustBuild(t, pkg)), CacheDir: testCacheDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

func TestRunCasesPass(t *testing.T) {
	r := loadRunner(t, "auth", "plugins/auth")
	cs, err := LoadCases("testdata/cases/auth.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	failed, err := RunCases(context.Background(), r, cs, TestOptions{Update: *update}, &out)
	if err != nil || failed != 0 {
		t.Fatalf("failed %d err %v\n%s", failed, err, out.String())
	}
	golden(t, "testdata/cases/auth.out.golden", out.String())
}

func TestRunCasesFail(t *testing.T) {
	r := loadRunner(t, "auth", "plugins/auth")
	cs, err := LoadCases("testdata/cases/auth-failing.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	failed, err := RunCases(context.Background(), r, cs, TestOptions{}, &out)
	if err != nil || failed != 1 {
		t.Fatalf("failed %d err %v\n%s", failed, err, out.String())
	}
	golden(t, "testdata/cases/auth-failing.out.golden", NormaliseOutput(out.String()))
}

func TestLoadCasesErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, yaml, want string }{
		{"unknown top", "conf: x\nfoo: 1\n", "c.yaml:2:1: unknown field \"foo\"; allowed: conf, cases"},
		{"no cases", "conf: x\n", "c.yaml: no cases"},
		{"unknown case field", "cases:\n  - name: a\n    reqest: x\n", "c.yaml:2:5: cases[0]: unknown field \"reqest\" (line 3)"},
		{"unknown expect field", "cases:\n  - name: a\n    expect: {stat: 1}\n", "c.yaml:2:5: cases[0]: expect (line 3):"},
		{"duplicate", "cases:\n  - name: a\n  - name: a\n", "c.yaml:3:5: cases[1]: name \"a\" already used at line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(dir, "c.yaml")
			os.WriteFile(f, []byte(tt.yaml), 0o644)
			_, err := LoadCases(f)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}
