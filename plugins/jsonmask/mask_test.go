package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
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
			got, n, err := mask([]byte(tt.in), setOf(fields), nil)
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
	if logs := host.Logs(types.LogLevelDebug); !slices.ContainsFunc(logs, func(l string) bool { return strings.HasSuffix(l, ": masked 1 values") }) {
		t.Errorf("debug logs %q: no masked count", logs)
	}
}

func TestPluginSkipsDebugLineBelowDebugLevel(t *testing.T) {
	host, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().
		WithVMContext(&vm{}).WithPluginConfiguration([]byte(`{"fields": ["password"]}`)).
		WithLogLevel(types.LogLevelInfo))
	defer reset()
	if !host.StartPlugin() {
		t.Fatal("conf rejected")
	}
	id := host.InitializeHttpContext()
	host.CallOnResponseHeaders(id, [][2]string{{"content-type", "application/json"}}, false)
	host.CallOnResponseBody(id, []byte(`{"password":1}`), true)
	if got := string(host.Stream(id).ResponseBody); got != `{"password":"***"}` {
		t.Errorf("body %s", got)
	}
	if logs := host.AllLogs(); len(logs) != 0 {
		t.Errorf("logs %v, want none", logs)
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

// validityCases are documents on the edges of the JSON grammar, each with
// whether it is one valid document (as encoding/json.Valid says too).
var validityCases = []struct {
	doc   string
	valid bool
}{
	// Empty, whitespace, trailing garbage.
	{"", false},
	{" \t\r\n", false},
	{" \t\r\n{}\r\n\t ", true},
	{"\f{}", false},
	{"{}\v", false},
	{"\xef\xbb\xbf{}", false}, // a BOM
	{"{}\x00", false},
	{"{} x", false},
	{"{}}", false},
	{"[]]", false},
	{"1 2", false},
	{`"a""b"`, false},
	{"null,", false},
	{`{"a":1}{"b":2}`, false},
	// Numbers.
	{"0", true},
	{"-0", true},
	{"123", true},
	{" 7 ", true},
	{"-", false},
	{"- 1", false},
	{"-a", false},
	{"+1", false},
	{"01", false},
	{"-01", false},
	{"00", false},
	{"0.", false},
	{"0.e1", false},
	{".5", false},
	{"1.5", true},
	{"1.0.0", false},
	{"1e", false},
	{"1e+", false},
	{"1e-", false},
	{"1E-2", true},
	{"1e+2", true},
	{"0e0", true},
	{"-1.5e300", true},
	{"1e1.5", false},
	{"1ee2", false},
	{"0x10", false},
	{"Infinity", false},
	{"NaN", false},
	{"[1,-]", false},
	{"[01]", false},
	{"[-0.0e-0]", true},
	// Literals.
	{"true", true},
	{"false", true},
	{"null", true},
	{"tru", false},
	{"truex", false},
	{"True", false},
	{"nul", false},
	{"fals", false},
	{"[true,false,null]", true},
	{"[truefalse]", false},
	// Strings: escapes, control characters, UTF-8.
	{`""`, true},
	{`"abc`, false},
	{`"abc\"`, false},
	{`"\"\\\/\b\f\n\r\t"`, true},
	{`"\'"`, false},
	{`"\x41"`, false},
	{`"\U00e9"`, false},
	{`"\u00e9"`, true},
	{`"\u00E9\uABcd"`, true},
	{`"\u12"`, false},
	{`"\u12G4"`, false},
	{`"\u`, false},
	{`"\ud800"`, true},       // a lone high surrogate
	{`"\udc00"`, true},       // a lone low surrogate
	{`"\udc00\ud800"`, true}, // reversed pair
	{`"\ud83d\ude00"`, true}, // a pair
	{"\"a\x00b\"", false},
	{"\"a\x1fb\"", false},
	{"\"tab\tin\"", false},
	{"\"line\nin\"", false},
	{"\"a\x7fb\"", true},
	{"\"\xff\"", true},         // not UTF-8: encoding/json accepts it
	{"\"\xc3\"", true},         // truncated sequence
	{"\"\xed\xa0\x80\"", true}, // an encoded surrogate
	{"\"\xc3\xa9\"", true},
	{"{\"\xff\":1}", true},
	{"\xff", false},
	// Structure.
	{"{}", true},
	{"[]", true},
	{"[ ]", true},
	{"{ }", true},
	{"{,}", false},
	{"[,]", false},
	{"[1,]", false},
	{"[,1]", false},
	{"[1,,2]", false},
	{`{"a":1,}`, false},
	{`{"a"}`, false},
	{`{"a":}`, false},
	{`{"a"::1}`, false},
	{`{"a",1}`, false},
	{`{1:2}`, false},
	{`{a:1}`, false},
	{`{"a" 1}`, false},
	{"[1 2]", false},
	{`{"a":1 "b":2}`, false},
	{"[}", false},
	{"{]", false},
	{`{"a":[}`, false},
	{`{"a":1]`, false},
	{`[{"a":1]}`, false},
	{"]", false},
	{"}", false},
	{"[", false},
	{"{", false},
	{`{"a":{"b":[1,{"c":null}]},"d":[[],{}]}`, true},
	{"[[[[]]]]", true},
	{"[[[[]]]", false},
	{`{"password":}`, false},
	{`{"password":1,}`, false},
	{`{"password":[1,2}`, false},
	{`{"password":"x"`, false},
	{`{"password":"x"}x`, false},
	{`{"password":{"password":1}}`, true},
	// Nesting depth: encoding/json allows 10000 levels.
	{strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth), true},
	{strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1), false},
	{strings.Repeat(`{"a":`, maxDepth) + "1" + strings.Repeat("}", maxDepth), true},
	{strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1), false},
	{strings.Repeat(`[{"password":`, maxDepth/2) + "1" + strings.Repeat("}]", maxDepth/2), true},
	{strings.Repeat(`[{"password":`, maxDepth/2) + "[1]" + strings.Repeat("}]", maxDepth/2), false},
	{strings.Repeat("[", maxDepth+1), false},
	{strings.Repeat("[", 64) + strings.Repeat("]", 63) + "}", false},
	{strings.Repeat(`{"a":[`, 40) + strings.Repeat("]}", 40), true},
	{strings.Repeat(`{"a":[`, 40) + strings.Repeat("}]", 40), false},
}

func TestMaskAcceptsWhatEncodingJSONAccepts(t *testing.T) {
	fields := map[string]bool{"password": true}
	for _, tt := range validityCases {
		if json.Valid([]byte(tt.doc)) != tt.valid {
			t.Errorf("bad case: json.Valid(%.40q) = %v", tt.doc, !tt.valid)
		}
		got, n, err := mask([]byte(tt.doc), setOf(fields), nil)
		if (err == nil) != tt.valid {
			t.Errorf("mask(%.40q): err = %v, want valid %v", tt.doc, err, tt.valid)
			continue
		}
		want, wn, _ := maskReference([]byte(tt.doc), fields)
		if err == nil && (!bytes.Equal(got, want) || n != wn) {
			t.Errorf("mask(%.40q) = %.40q (%d), reference %.40q (%d)", tt.doc, got, n, want, wn)
		}
	}
}

// TestMaskStringBytesAtEveryOffset puts bytes that end or break a string,
// or that are not ASCII, at every offset of the 8-byte words strings are
// scanned in, in keys and in values.
func TestMaskStringBytesAtEveryOffset(t *testing.T) {
	fields := map[string]bool{"password": true}
	for _, b := range []string{`"`, `\`, `\"`, `\u0041`, `\x`, "\x00", "\x1f", " ", "\x7f", "\x80", "\xff", "\xc3\xa9", `"password`, `"ab":1,"password`} {
		for pre := range 18 {
			for _, post := range []int{0, 1, 7, 8, 9} {
				str := `"` + strings.Repeat("a", pre) + b + strings.Repeat("b", post) + `"`
				for _, doc := range []string{str, `{` + str + `:1,"password":2}`, `{"password":` + str + `,"k":` + str + `}`} {
					got, n, err := mask([]byte(doc), setOf(fields), nil)
					if valid := json.Valid([]byte(doc)); (err == nil) != valid {
						t.Fatalf("mask(%q): err = %v, json.Valid = %v", doc, err, valid)
					}
					want, wn, _ := maskReference([]byte(doc), fields)
					if err == nil && (!bytes.Equal(got, want) || n != wn) {
						t.Fatalf("mask(%q) = %q (%d), reference %q (%d)", doc, got, n, want, wn)
					}
				}
			}
		}
	}
}

// TestMaskDecodesKeys: keys match after decoding as encoding/json decodes
// them, including U+FFFD for lone surrogates and bytes that are not UTF-8.
func TestMaskDecodesKeys(t *testing.T) {
	long := strings.Repeat("x", 100)
	fields := map[string]bool{
		"é": true, "😀": true, "\uFFFD": true, "\uFFFDA": true, "a/b": true, "\n": true,
		`q"\`: true, "\b\f\r\t": true, long: true, "\x7f": true,
	}
	tests := []struct {
		key  string
		want bool
	}{
		{`"é"`, true},
		{`"\u00e9"`, true},
		{`"\u00E9"`, true},
		{`"e\u0301"`, false}, // not normalized
		{`"É"`, false},
		{`"😀"`, true},
		{`"\ud83d\ude00"`, true},
		{`"\uD83D\uDE00"`, true},
		{`"\ud83d"`, true},          // lone high surrogate: U+FFFD
		{`"\ude00"`, true},          // lone low surrogate: U+FFFD
		{`"\ude00\ud83d"`, false},   // two of them
		{`"\ud83dA"`, true},         // U+FFFD A
		{`"\ud83d\u0041"`, true},    // U+FFFD A: the second escape is kept
		{`"\ud83d\n"`, false},       // U+FFFD \n
		{"\"\xff\"", true},          // not UTF-8: U+FFFD
		{"\"\xffA\"", true},         // U+FFFD A
		{"\"\xed\xa0\x80\"", false}, // an encoded surrogate: three U+FFFD
		{"\"\xc3\"", true},          // truncated: U+FFFD
		{"\"\xef\xbf\xbd\"", true},  // U+FFFD itself
		{`"\ufffd"`, true},
		{`"a\/b"`, true},
		{`"a/b"`, true},
		{`"\n"`, true},
		{`"\u000a"`, true},
		{`"q\"\\"`, true},
		{`"q\u0022\u005c"`, true},
		{`"\b\f\r\t"`, true},
		{`"\u0008\u000c\u000d\u0009"`, true},
		{"\"\x7f\"", true},
		{`"\u007f"`, true},
		{`"` + long + `"`, true},
		{`"` + strings.Repeat(`\u0078`, 100) + `"`, true}, // decodes past the stack buffer
		{`"` + strings.Repeat(`\u0078`, 99) + `"`, false},
	}
	for _, tt := range tests {
		doc := `{` + tt.key + `:[1,{"k":2}],"z":0}`
		got, n, err := mask([]byte(doc), setOf(fields), nil)
		if err != nil {
			t.Fatalf("mask(%.60q): %v", doc, err)
		}
		if (n == 1) != tt.want {
			t.Errorf("key %.60q: masked %d values, want masked %v", tt.key, n, tt.want)
		}
		want, wn, _ := maskReference([]byte(doc), fields)
		if !bytes.Equal(got, want) || n != wn {
			t.Errorf("mask(%.60q) = %.60q (%d), reference %.60q (%d)", doc, got, n, want, wn)
		}
	}
}

// fuzzFields are the fields of the fuzz test: ASCII ones, and ones that only
// keys with escapes, with UTF-8 or with bytes that are not UTF-8 match.
var fuzzFields = map[string]bool{
	"password": true, "ssn": true, "a": true, "": true,
	"é": true, "😀": true, "\uFFFD": true, "\uFFFD\uFFFD": true, "\n": true, `"`: true,
}

// fuzzFewFields are few enough to be compared one by one, not looked up.
var fuzzFewFields = map[string]bool{"password": true, "a": true, "ab": true, "é": true, "\uFFFD": true}

// setOf is newFieldSet for the keys of a map.
func setOf(fields map[string]bool) *fieldSet {
	return newFieldSet(slices.Collect(maps.Keys(fields)))
}

func TestFieldSet(t *testing.T) {
	long := strings.Repeat("x", 63)
	for _, names := range [][]string{
		{"password", "ssn", "", "é", long + "y", long + "yz", "ssn"},
		{"password", "ssn", "", "é", long + "y", long + "yz", "a", "b", "c", "d", "e", "f"},
	} {
		s := newFieldSet(names)
		if listed := s.m == nil; listed != (len(names) <= maxListed) {
			t.Errorf("%d names: listed %v", len(names), listed)
		}
		for _, f := range names {
			if !s.has([]byte(f)) {
				t.Errorf("%d names: %q not found", len(names), f)
			}
		}
		for _, k := range []string{"Password", "passwor", "passwordd", "ss", "ssm", "x", "e\u0301", long, long + "z", long + "yy", long + "yzz"} {
			if s.has([]byte(k)) {
				t.Errorf("%d names: %q found", len(names), k)
			}
		}
	}
}

// FuzzMaskMatchesReference checks that mask accepts exactly what
// encoding/json.Valid accepts and masks like the json.Decoder
// implementation it replaced. Run it with
// go test -run xxx -fuzz FuzzMaskMatchesReference ./plugins/jsonmask
func FuzzMaskMatchesReference(f *testing.F) {
	for _, s := range []string{
		`{"user":"a","password":"p"}`,
		`[{"a":{"ssn":"1","b":[{"password":null}]}},{"password":{"deep":[1,2]}}]`,
		`{"pass\u0077ord":"x", "k":"password", "ssn" : [ "]}\"", {"x":1} ] , "z":-1.5e3}`,
		`{"a":{"password":true,"b":"password"},"password":"x:y"}`,
		"{ \"password\"\t:\n 12 }",
		`{"password":`,
		`"password"`,
		`{"\u00e9":1,"\ud83d\ude00":[2],"\ud800":{"a":3},"\n":"\"","\"":-0.5E+7}`,
		"{\"\xff\":1,\"\xc3\xa9\":{},\"a\":{\"a\":{\"a\":[]}},\"\":\"\"}",
		"{\"\xff\xfe\":null,\"\xed\xa0\x80\":true}",
		`{"ssn":[[],[{}],{"ssn":1}],"x":[false,true,null,0,1e9]}`,
		"\t[\r\n{\"a\" : [ ] , \"password\" : { } } ]\n",
	} {
		f.Add([]byte(s))
	}
	for _, tt := range validityCases {
		if len(tt.doc) < 1000 {
			f.Add([]byte(tt.doc))
		}
	}
	sets := []map[string]bool{fuzzFields, fuzzFewFields}
	f.Fuzz(func(t *testing.T, doc []byte) {
		valid := json.Valid(doc)
		for _, fields := range sets {
			got, n, err := mask(doc, setOf(fields), nil)
			if (err == nil) != valid {
				t.Fatalf("mask(%q): err = %v, json.Valid = %v", doc, err, valid)
			}
			want, wn, werr := maskReference(doc, fields)
			if (err != nil) != (werr != nil) || err == nil && (!bytes.Equal(got, want) || n != wn) {
				t.Fatalf("mask(%q) = %q, %d, %v; reference %q, %d, %v", doc, got, n, err, want, wn, werr)
			}
		}
	})
}

func TestMaskAllocations(t *testing.T) {
	doc := []byte(`{"items":[{"id":1,"user":"u1","password":"s1"},{"id":2,"user":"u2","ssn":"s2"},` +
		`{"us\u0065r":"\u00e9","p\u00e4ss":1,"é":[-1.5e3,true,null]}]}`)
	out := make([]byte, 0, 2*len(doc))
	set := newFieldSet([]string{"password", "ssn"})
	if n := testing.AllocsPerRun(100, func() { _, _, _ = mask(doc, set, out) }); n != 0 {
		t.Errorf("mask with a big enough buffer: %v allocations, want 0", n)
	}
}

// jsonBody is a document of about n bytes like the one of
// bench.BenchmarkChainJSONMask.
func jsonBody(n int) []byte {
	out := []byte(`{"items":[`)
	for i := 0; len(out) < n-64; i++ {
		if i > 0 {
			out = append(out, ',')
		}
		out = fmt.Appendf(out, `{"id":%d,"user":"user%d","password":"secret%d"}`, i, i, i)
	}
	return append(out, "]}"...)
}

// textBody is a document of about n bytes whose strings are mostly long.
func textBody(n int) []byte {
	out := []byte(`[`)
	for i := 0; len(out) < n-64; i++ {
		if i > 0 {
			out = append(out, ',')
		}
		out = fmt.Appendf(out, `{"id":%d,"bio":"Lorem ipsum dolor sit amet, consectetur adipiscing elit, `+
			`sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, `+
			`quis nostrud exercitation ullamco laboris nisi ut aliquip.","password":"secret%d"}`, i, i)
	}
	return append(out, ']')
}

// BenchmarkMask is mask alone. The numbers that matter are wasm ones, but
// this package's test binary needs a proxy-wasm host: copy mask.go and
// this benchmark to a scratch package, build it with GOOS=wasip1
// GOARCH=wasm go test -c and run that with a WASI runtime (wazero).
func BenchmarkMask(b *testing.B) {
	fields := newFieldSet([]string{"password", "ssn"})
	for _, bm := range []struct {
		name string
		doc  []byte
	}{
		{"1KiB", jsonBody(1 << 10)},
		{"64KiB", jsonBody(64 << 10)},
		{"text64KiB", textBody(64 << 10)},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.SetBytes(int64(len(bm.doc)))
			var out []byte
			for b.Loop() {
				out, _, _ = mask(bm.doc, fields, out)
			}
		})
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
