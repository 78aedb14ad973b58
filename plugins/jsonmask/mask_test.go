package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/heimdallgw/heimdall/sdk/proxywasm/proxytest"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

func TestMask(t *testing.T) {
	fields := map[string]bool{"password": true, "ssn": true}
	tests := []struct {
		name, in, want string
		n              int
		err            bool
	}{
		{"flat", `{"user":"a","password":"p"}`, `{"user":"a","password":"***"}`, 1, false},
		{"spacing kept", "{ \"password\" :  123 ,\n \"x\": 1}", "{ \"password\" :  \"***\" ,\n \"x\": 1}", 1, false},
		{"nested and arrays", `[{"a":{"ssn":"1","b":[{"password":null}]}},{"password":{"deep":[1,2]}}]`,
			`[{"a":{"ssn":"***","b":[{"password":"***"}]}},{"password":"***"}]`, 3, false},
		{"value equal to a field name is not a key", `{"k":"password","list":["ssn"]}`, `{"k":"password","list":["ssn"]}`, 0, false},
		{"after masked object", `{"password":{"a":1},"user":"u","ssn":[1]}`, `{"password":"***","user":"u","ssn":"***"}`, 2, false},
		{"escaped key", `{"pass\u0077ord":"x"}`, `{"pass\u0077ord":"***"}`, 1, false},
		{"scalar document", `"password"`, `"password"`, 0, false},
		{"not json", `{"password":`, "", 0, true},
		{"two documents", `{} {}`, "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n, err := mask([]byte(tt.in), fields, nil)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if err == nil && (string(got) != tt.want || n != tt.n) {
				t.Errorf("got %s (%d), want %s (%d)", got, n, tt.want, tt.n)
			}
		})
	}
}

func newHost(t *testing.T, conf string) (*proxytest.HostEmulator, func()) {
	host, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().
		WithVMContext(&vm{}).WithPluginConfiguration([]byte(conf)))
	if !host.StartPlugin() {
		reset()
		t.Fatal("conf rejected")
	}
	return host, reset
}

func TestPluginMasksBufferedJSONBody(t *testing.T) {
	host, reset := newHost(t, `{"fields": ["password"]}`)
	defer reset()
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, [][2]string{{":path", "/user"}}, true)
	host.CallOnResponseHeaders(id, [][2]string{
		{":status", "200"}, {"content-type", "application/json; charset=utf-8"}, {"content-length", "33"},
	}, false)
	st := host.Stream(id)
	if slices.ContainsFunc(st.ResponseHeaders, func(h [2]string) bool { return h[0] == "content-length" }) {
		t.Error("content-length not removed")
	}
	if a := host.CallOnResponseBody(id, []byte(`{"user":"bob",`), false); a != types.ActionPause {
		t.Fatalf("first chunk: %v, want Pause", a)
	}
	if a := host.CallOnResponseBody(id, []byte(`"password":"hunter2"}`), true); a != types.ActionContinue {
		t.Fatalf("last chunk: %v, want Continue", a)
	}
	if got, want := string(host.Stream(id).ResponseBody), `{"user":"bob","password":"***"}`; got != want {
		t.Errorf("body %s, want %s", got, want)
	}
}

func TestPluginLeavesOtherBodiesAlone(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		wantCL                  bool
	}{
		{"not json", "text/plain", `{"password":"x"}`, true},
		{"invalid json", "application/json", `{"password":`, false},
		{"problem+json without fields", "application/problem+json", `{"title":"x"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, reset := newHost(t, `{"fields": ["password"]}`)
			defer reset()
			id := host.InitializeHttpContext()
			host.CallOnResponseHeaders(id, [][2]string{{"content-type", tt.contentType}, {"content-length", "1"}}, false)
			host.CallOnResponseBody(id, []byte(tt.body), true)
			st := host.Stream(id)
			if string(st.ResponseBody) != tt.body {
				t.Errorf("body changed to %s", st.ResponseBody)
			}
			hasCL := slices.ContainsFunc(st.ResponseHeaders, func(h [2]string) bool { return h[0] == "content-length" })
			if hasCL != tt.wantCL {
				t.Errorf("content-length present = %v, want %v", hasCL, tt.wantCL)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	for _, conf := range []string{``, `{}`, `{"fields": []}`, `{"fields": "password"}`, `{"field": ["a"]}`} {
		host, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().
			WithVMContext(&vm{}).WithPluginConfiguration([]byte(conf)))
		if host.StartPlugin() {
			t.Errorf("conf %q accepted", conf)
		}
		reset()
	}
}

// FuzzMaskMatchesReference checks mask against the json.Decoder
// implementation it replaced.
func FuzzMaskMatchesReference(f *testing.F) {
	for _, s := range []string{
		`{"user":"a","password":"p"}`,
		`[{"a":{"ssn":"1","b":[{"password":null}]}},{"password":{"deep":[1,2]}}]`,
		`{"pass\u0077ord":"x", "k":"password", "ssn" : [ "]}\"", {"x":1} ] , "z":-1.5e3}`,
		`{"a":{"password":true,"b":"password"},"password":"x:y"}`,
		"{ \"password\"\t:\n 12 }",
		`{"password":`,
		`"password"`,
	} {
		f.Add([]byte(s))
	}
	fields := map[string]bool{"password": true, "ssn": true}
	f.Fuzz(func(t *testing.T, doc []byte) {
		got, n, err := mask(doc, fields, nil)
		want, wn, werr := maskReference(doc, fields)
		if (err != nil) != (werr != nil) || err == nil && (!bytes.Equal(got, want) || n != wn) {
			t.Fatalf("mask(%q) = %q, %d, %v; reference %q, %d, %v", doc, got, n, err, want, wn, werr)
		}
	})
}

func TestMaskAllocations(t *testing.T) {
	doc := []byte(`{"items":[{"id":1,"user":"u1","password":"s1"},{"id":2,"user":"u2","ssn":"s2"}]}`)
	fields := map[string]bool{"password": true, "ssn": true}
	out := make([]byte, 0, 2*len(doc))
	if n := testing.AllocsPerRun(100, func() { _, _, _ = mask(doc, fields, out) }); n != 0 {
		t.Errorf("mask with a big enough buffer: %v allocations, want 0", n)
	}
}

// maskReference is the json.Decoder implementation mask replaced; it
// replaces, in a JSON document, the value of every object member whose
// key is in fields with Mask, and returns the new document and how many
// values it replaced. Everything else (order, spacing, escapes) is kept.
// A body that is not exactly one valid JSON value is an error.
func maskReference(doc []byte, fields map[string]bool) ([]byte, int, error) {
	if !json.Valid(doc) {
		return nil, 0, errors.New("not a JSON document")
	}
	type span struct{ start, end int64 }
	type frame struct{ array, wantKey bool }
	var (
		spans []span
		stack []frame
	)
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	// valueDone records that the innermost object got a member's value.
	valueDone := func() {
		if n := len(stack); n > 0 && !stack[n-1].array {
			stack[n-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				stack = append(stack, frame{wantKey: true})
			case '[':
				stack = append(stack, frame{array: true})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
			continue
		}
		n := len(stack)
		if n == 0 || stack[n-1].array || !stack[n-1].wantKey {
			valueDone() // a scalar value
			continue
		}
		// tok is an object key; the decoder has consumed it but not ':'.
		stack[n-1].wantKey = false
		if !fields[tok.(string)] {
			continue
		}
		start := refValueStart(doc, dec.InputOffset())
		if err := refSkipValue(dec); err != nil {
			return nil, 0, err
		}
		spans = append(spans, span{start, dec.InputOffset()})
		valueDone()
	}
	if len(spans) == 0 {
		return doc, 0, nil
	}
	var out bytes.Buffer
	out.Grow(len(doc))
	var last int64
	for _, s := range spans {
		out.Write(doc[last:s.start])
		out.WriteString(Mask)
		last = s.end
	}
	out.Write(doc[last:])
	return out.Bytes(), len(spans), nil
}

// refValueStart returns the offset of the value that follows a key ending at
// off: past whitespace and the colon.
func refValueStart(doc []byte, off int64) int64 {
	for off < int64(len(doc)) {
		switch doc[off] {
		case ' ', '\t', '\n', '\r', ':':
			off++
		default:
			return off
		}
	}
	return off
}

// refSkipValue consumes one complete value from dec.
func refSkipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}
