package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/bad/*.golden from the current output")

// TestBadGolden loads every broken file under testdata/bad and compares the
// error text with the .golden file beside it. Files named main_* are
// config.yaml cases; routes_* are apisix.yaml cases checked against
// testdata/main.yaml. Run with -update to regenerate the golden files.
func TestBadGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 12 {
		t.Fatalf("found %d broken cases, want at least 12", len(files))
	}
	base, err := LoadMain("testdata/main.yaml")
	if err != nil {
		t.Fatalf("loading base config: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			var err error
			switch {
			case strings.HasPrefix(name, "main_"):
				_, err = LoadMain(file)
			case strings.HasPrefix(name, "routes_"):
				_, err = LoadRoutes(file, base)
			default:
				t.Fatalf("test file %s must be named main_* or routes_*", file)
			}
			if err == nil {
				t.Fatalf("loading %s succeeded; want errors", file)
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error is %T, want config.Errors: %v", err, err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("reading golden file (run go test -update to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("errors for %s differ from %s\n--- got\n%s--- want\n%s", file, golden, got, want)
			}
		})
	}
}
