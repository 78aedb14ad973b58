package filter

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// recorder is a test filter whose behaviour is set per test.
type recorder struct {
	Base
	name   string
	log    *[]string
	phases Phase
	// body returns the action for a body callback given the buffer.
	body func(x *Exchange, b *Body, eos bool) Action
	hdr  func(x *Exchange) Action
}

func (r *recorder) Phases() Phase {
	if r.phases == 0 {
		return PhaseAll
	}
	return r.phases
}

func (r *recorder) OnRequestHeaders(x *Exchange, eos bool) Action {
	*r.log = append(*r.log, r.name+":reqh")
	if r.hdr != nil {
		return r.hdr(x)
	}
	return Continue
}

func (r *recorder) OnResponseHeaders(x *Exchange, eos bool) Action {
	*r.log = append(*r.log, r.name+":resph")
	return Continue
}

func (r *recorder) OnRequestBody(x *Exchange, b *Body, eos bool) Action {
	*r.log = append(*r.log, r.name+":reqb("+string(b.B)+")")
	if r.body != nil {
		return r.body(x, b, eos)
	}
	return Continue
}

func (r *recorder) OnResponseBody(x *Exchange, b *Body, eos bool) Action {
	*r.log = append(*r.log, r.name+":respb("+string(b.B)+")")
	if r.body != nil {
		return r.body(x, b, eos)
	}
	return Continue
}

type fac struct{ f StreamFilter }

func (f fac) Name() string                                    { return "test" }
func (f fac) NewStreamFilter(*Exchange) (StreamFilter, error) { return f.f, nil }

func chainOf(t *testing.T, opts Options, fs ...StreamFilter) (*Chain, *Exchange) {
	t.Helper()
	x := &Exchange{}
	var facs []Factory
	for _, f := range fs {
		facs = append(facs, fac{f})
	}
	c, err := NewChain(x, facs, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Done)
	return c, x
}

func TestChainOrder(t *testing.T) {
	var log []string
	a := &recorder{name: "a", log: &log}
	b := &recorder{name: "b", log: &log}
	c, _ := chainOf(t, Options{}, a, b)
	ctx := context.Background()
	if err := c.RequestHeaders(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := c.ResponseHeaders(ctx, false); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(log, " ")
	if want := "a:reqh b:reqh b:resph a:resph"; got != want {
		t.Fatalf("order = %q, want %q", got, want)
	}
}

func TestChainBodyBuffering(t *testing.T) {
	var log []string
	// a buffers until end of stream, then upper-cases the whole body.
	a := &recorder{name: "a", log: &log, body: func(x *Exchange, b *Body, eos bool) Action {
		if !eos {
			return Pause
		}
		b.Splice(0, b.Len(), []byte(strings.ToUpper(string(b.B))))
		return Continue
	}}
	// b appends a marker to every chunk it sees.
	b := &recorder{name: "b", log: &log, body: func(x *Exchange, bb *Body, eos bool) Action {
		bb.Splice(bb.Len(), 0, []byte("!"))
		return Continue
	}}
	c, _ := chainOf(t, Options{}, a, b)
	ctx := context.Background()
	var out []string
	chunk := []byte("he")
	for i, s := range []string{"he", "ll", "o"} {
		copy(chunk, s) // the caller reuses its read buffer
		chunk = chunk[:len(s)]
		o, err := c.RequestBody(ctx, chunk, i == 2)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(o))
	}
	if got, want := strings.Join(out, "|"), "||HELLO!"; got != want {
		t.Fatalf("forwarded %q, want %q", got, want)
	}
	if got, want := strings.Join(log, " "), "a:reqb(he) a:reqb(hell) a:reqb(hello) b:reqb(HELLO)"; got != want {
		t.Fatalf("calls %q, want %q", got, want)
	}
}

func TestChainBufferLimit(t *testing.T) {
	var log []string
	a := &recorder{name: "a", log: &log, body: func(*Exchange, *Body, bool) Action { return Pause }}
	c, _ := chainOf(t, Options{BufferLimit: 4}, a)
	ctx := context.Background()
	if _, err := c.RequestBody(ctx, []byte("abc"), false); err != nil {
		t.Fatal(err)
	}
	_, err := c.RequestBody(ctx, []byte("de"), false)
	if !errors.Is(err, ErrRequestBodyTooLarge) || HTTPStatus(err) != 413 {
		t.Fatalf("err = %v, want request too large (413)", err)
	}
	_, err = c.ResponseBody(ctx, []byte("12345"), true)
	if HTTPStatus(err) != 500 {
		t.Fatalf("response err = %v, want 500", err)
	}
}

func TestChainPauseResumeAsync(t *testing.T) {
	var log []string
	var x *Exchange
	a := &recorder{name: "a", log: &log, hdr: func(ex *Exchange) Action {
		go func() {
			time.Sleep(10 * time.Millisecond)
			ex.Req.Header.AddString("x-async", "yes")
			ex.Resume()
		}()
		return Pause
	}}
	b := &recorder{name: "b", log: &log}
	c, x := chainOf(t, Options{}, a, b)
	if err := c.RequestHeaders(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if v, _ := x.Req.Header.Get("x-async"); string(v) != "yes" {
		t.Fatalf("header from async resume missing")
	}
	if got := strings.Join(log, " "); got != "a:reqh b:reqh" {
		t.Fatalf("calls %q", got)
	}
}

func TestChainLocalResponseStops(t *testing.T) {
	var log []string
	a := &recorder{name: "a", log: &log, hdr: func(x *Exchange) Action {
		x.SendLocalResponse(&LocalResponse{Status: 403})
		return Pause
	}}
	b := &recorder{name: "b", log: &log}
	c, x := chainOf(t, Options{}, a, b)
	if err := c.RequestHeaders(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if lr := x.LocalResponse(); lr == nil || lr.Status != 403 {
		t.Fatalf("local response = %+v", lr)
	}
	if got := strings.Join(log, " "); got != "a:reqh" {
		t.Fatalf("calls %q: b must not run after a local response", got)
	}
}

func TestChainStaleResumeDoesNotReleaseLaterPause(t *testing.T) {
	var log []string
	a := &recorder{name: "a", log: &log, hdr: func(x *Exchange) Action {
		x.Resume() // continue_stream while not paused: ignored
		return Continue
	}}
	b := &recorder{name: "b", log: &log, hdr: func(x *Exchange) Action { return Pause }}
	c, _ := chainOf(t, Options{PauseTimeout: 20 * time.Millisecond}, a, b)
	err := c.RequestHeaders(context.Background(), true)
	if !errors.Is(err, ErrPauseTimeout) {
		t.Fatalf("err = %v, want pause timeout", err)
	}
}

func TestChainTrailersFlushBuffered(t *testing.T) {
	var log []string
	a := &recorder{name: "a", log: &log, body: func(*Exchange, *Body, bool) Action { return Pause }}
	c, _ := chainOf(t, Options{}, a)
	ctx := context.Background()
	if o, _ := c.RequestBody(ctx, []byte("abc"), false); len(o) != 0 {
		t.Fatalf("buffered data leaked: %q", o)
	}
	o, err := c.RequestTrailers(ctx)
	if err != nil || string(o) != "abc" {
		t.Fatalf("trailers flushed %q, %v", o, err)
	}
}

func TestBodySplice(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		start, n   int
		data, want string
	}{
		{"prepend", "world", 0, 0, "hello ", "hello world"},
		{"append", "hello", 5, 0, "!", "hello!"},
		{"replace all", "abc", 0, 3, "xyz123", "xyz123"},
		{"middle shrink", "abcdef", 1, 4, "-", "a-f"},
		{"clamped", "abc", 10, 10, "d", "abcd"},
		{"delete", "abc", 0, 3, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Body{B: []byte(tt.in)}
			b.Splice(tt.start, tt.n, []byte(tt.data))
			if string(b.B) != tt.want {
				t.Fatalf("got %q, want %q", b.B, tt.want)
			}
		})
	}
}
