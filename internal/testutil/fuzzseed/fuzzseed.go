// Package fuzzseed keeps the seed corpora of the fuzz targets
// (testdata/fuzz/FuzzXxx/seed-*) in step with the realistic inputs they are
// built from: each package lists its seeds in a test that calls Sync, which
// rewrites the files when HEIMDALL_WRITE_FUZZ_SEEDS=1 and otherwise fails
// when one is missing or stale.
//
//	HEIMDALL_WRITE_FUZZ_SEEDS=1 go test -run TestFuzzSeeds ./internal/...
//
// Files the fuzzer adds (crash reproducers, named by hash) are left alone.
package fuzzseed

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Seed is one corpus entry: its file name (without the seed- prefix) and the
// fuzz function's arguments after *testing.T.
type Seed struct {
	Name   string
	Values []any
}

// New is a Seed named name with the given arguments.
func New(name string, values ...any) Seed { return Seed{Name: name, Values: values} }

// Encode renders values in the corpus file format of `go test -fuzz`.
func Encode(values ...any) ([]byte, error) {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, v := range values {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(v)))
		case string:
			fmt.Fprintf(&b, "string(%s)\n", strconv.Quote(v))
		case uint8:
			fmt.Fprintf(&b, "uint8(%d)\n", v)
		case uint16:
			fmt.Fprintf(&b, "uint16(%d)\n", v)
		case uint32:
			fmt.Fprintf(&b, "uint32(%d)\n", v)
		case uint64:
			fmt.Fprintf(&b, "uint64(%d)\n", v)
		case int:
			fmt.Fprintf(&b, "int(%d)\n", v)
		case bool:
			fmt.Fprintf(&b, "bool(%t)\n", v)
		default:
			return nil, fmt.Errorf("fuzzseed: unsupported type %T", v)
		}
	}
	return []byte(b.String()), nil
}

// Sync checks (or, with HEIMDALL_WRITE_FUZZ_SEEDS=1, writes) the seeds of
// target under testdata/fuzz/<target>.
func Sync(t *testing.T, target string, seeds []Seed) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	write := os.Getenv("HEIMDALL_WRITE_FUZZ_SEEDS") == "1"
	if write {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range seeds {
		data, err := Encode(s.Values...)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "seed-"+clean(s.Name))
		if write {
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != string(data) {
			t.Errorf("seed %s is missing or stale; regenerate with HEIMDALL_WRITE_FUZZ_SEEDS=1 go test -run TestFuzzSeeds", path)
		}
	}
}

func clean(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, name)
}
