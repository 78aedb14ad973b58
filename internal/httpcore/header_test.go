package httpcore

import (
	"strings"
	"testing"
)

func dump(h *Header) string {
	var b strings.Builder
	for i := 0; i < h.Len(); i++ {
		n, v := h.At(i)
		if i > 0 {
			b.WriteByte('|')
		}
		b.Write(n)
		b.WriteByte('=')
		b.Write(v)
	}
	return b.String()
}

func TestHeaderOps(t *testing.T) {
	tests := []struct {
		name string
		do   func(h *Header)
		want string
	}{
		{"add lowercases", func(h *Header) { h.AddString("X-Foo", "Bar") }, "x-foo=Bar"},
		{"get case-insensitive", func(h *Header) {
			h.AddString("x-a", "1")
			if v, ok := h.Get("X-A"); !ok || string(v) != "1" {
				t.Errorf("Get = %q, %v", v, ok)
			}
		}, "x-a=1"},
		{"set replaces first keeps position", func(h *Header) {
			h.AddString("a", "1")
			h.AddString("b", "2")
			h.AddString("a", "3")
			h.SetString("A", "9")
		}, "a=9|b=2"},
		{"set appends when absent", func(h *Header) { h.AddString("a", "1"); h.SetString("c", "2") }, "a=1|c=2"},
		{"del all", func(h *Header) {
			h.AddString("a", "1")
			h.AddString("b", "2")
			h.AddString("a", "3")
			h.Del("a")
		}, "b=2"},
		{"values survive growth", func(h *Header) {
			h.AddString("first", "v")
			v, _ := h.Get("first")
			for i := 0; i < 100; i++ {
				h.AddString("k", strings.Repeat("x", 50))
			}
			if string(v) != "v" {
				t.Errorf("held value changed to %q", v)
			}
			h.Del("k")
		}, "first=v"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Header
			tt.do(&h)
			if got := dump(&h); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRemoveHopByHop(t *testing.T) {
	var h Header
	h.AddString("Connection", "keep-alive, X-Secret")
	h.AddString("Keep-Alive", "timeout=5")
	h.AddString("X-Secret", "s")
	h.AddString("Transfer-Encoding", "chunked")
	h.AddString("TE", "trailers")
	h.AddString("Upgrade", "websocket")
	h.AddString("X-Keep", "k")
	RemoveHopByHop(&h)
	if got := dump(&h); got != "x-keep=k" {
		t.Fatalf("got %q", got)
	}
}

func TestHasToken(t *testing.T) {
	var h Header
	h.AddString("Connection", "Keep-Alive ,  Upgrade")
	if !h.HasToken("connection", "upgrade") || h.HasToken("connection", "close") {
		t.Fatal("HasToken mismatch")
	}
}

func TestRequestPathParts(t *testing.T) {
	var r Request
	r.SetPath([]byte("/a/b?x=1&y=2"))
	if string(r.URLPath()) != "/a/b" || string(r.Query()) != "x=1&y=2" {
		t.Fatalf("URLPath %q Query %q", r.URLPath(), r.Query())
	}
	r.SetPath([]byte("/plain"))
	if string(r.URLPath()) != "/plain" || r.Query() != nil {
		t.Fatalf("URLPath %q Query %q", r.URLPath(), r.Query())
	}
}

func TestHeaderSetDoesNotAllocate(t *testing.T) {
	var h Header
	h.AddString("x-a", "1")
	h.AddString("x-b", "2")
	name, value := []byte("X-A"), []byte("replaced")
	h.Set(name, value) // grow the arena once
	h.Reset()
	h.AddString("x-a", "1")
	h.AddString("x-b", "2")
	if n := testing.AllocsPerRun(100, func() {
		h.Set(name, value)
		h.Reset()
		h.AddString("x-a", "1")
		h.AddString("x-b", "2")
	}); n != 0 {
		t.Fatalf("Set allocates %v times per call", n)
	}
}

func TestRemoveHopByHopConnectionTokens(t *testing.T) {
	var h Header
	h.AddString("X-A", "a")
	h.AddString("Connection", "x-a")
	h.AddString("X-B", "b")
	h.AddString("connection", " X-B ,, close")
	h.AddString("Close", "c")
	h.AddString("X-Keep", "k")
	RemoveHopByHop(&h)
	if got := dump(&h); got != "x-keep=k" {
		t.Fatalf("got %q", got)
	}
}

func TestRemoveHopByHopDoesNotAllocate(t *testing.T) {
	var h Header
	fill := func() {
		h.Reset()
		h.AddString("host", "example.com")
		h.AddString("keep-alive", "timeout=5")
		h.AddString("user-agent", "test")
		h.AddString("te", "trailers")
	}
	fill()
	if n := testing.AllocsPerRun(100, func() {
		fill()
		RemoveHopByHop(&h)
	}); n != 0 {
		t.Fatalf("RemoveHopByHop allocates %v times per call", n)
	}
	if got := dump(&h); got != "host=example.com|user-agent=test" {
		t.Fatalf("got %q", got)
	}
}
