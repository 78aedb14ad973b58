package router

import (
	"errors"
	"testing"
)

func TestNormalizePath(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{in: "/", want: "/"},
		{in: "/a/b", want: "/a/b"},
		{in: "/a/b/", want: "/a/b/"},
		{in: "/a.b/.c/..d/...", want: "/a.b/.c/..d/..."},
		{in: "//a///b//", want: "/a/b/"},
		{in: "/a/./b/.", want: "/a/b/"},
		{in: "/a/b/../c", want: "/a/c"},
		{in: "/a/b/..", want: "/a/"},
		{in: "/public/../admin", want: "/admin"},
		{in: "/public/%2e%2e/admin", want: "/admin"},
		{in: "/public/%2E%2E/admin", want: "/admin"},
		{in: "/public/.%2e/admin", want: "/admin"},
		{in: "/public/..%2fadmin", want: "/admin"},
		{in: "/public%2f..%2fadmin", want: "/admin"},
		{in: "/public%2F%2Fa", want: "/public/a"},
		{in: "/%61%62c", want: "/abc"},
		{in: "/a%20b", want: "/a b"},
		{in: "/a%25b", want: "/a%b"},
		{in: "/..", err: true},
		{in: "/a/../..", err: true},
		{in: "/%2e%2e/a", err: true},
		{in: "/a%2", err: true},
		{in: "/a%zz", err: true},
		{in: "/a%00b", err: true},
		{in: "*", want: "*"},
	}
	for _, tt := range tests {
		got, err := NormalizePath(nil, []byte(tt.in))
		if tt.err {
			if !errors.Is(err, ErrBadPath) {
				t.Errorf("%q: got %q, %v; want ErrBadPath", tt.in, got, err)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("%q: got %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// A path that needs nothing is returned without copying or allocating.
func TestNormalizePathClean(t *testing.T) {
	p := []byte("/api/v1/users/42")
	if n := testing.AllocsPerRun(100, func() {
		got, _ := NormalizePath(nil, p)
		if &got[0] != &p[0] {
			t.Fatal("clean path copied")
		}
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func BenchmarkNormalizePath(b *testing.B) {
	clean := []byte("/api/v1/users/42/profile")
	dirty := []byte("/api//v1/./users/%34%32/../42/profile")
	buf := make([]byte, 0, 64)
	b.Run("clean", func(b *testing.B) {
		for range b.N {
			NormalizePath(buf, clean) //nolint:errcheck
		}
	})
	b.Run("dirty", func(b *testing.B) {
		for range b.N {
			NormalizePath(buf, dirty) //nolint:errcheck
		}
	})
}
