package host

import (
	"bytes"
	"testing"

	"github.com/heimdallgw/heimdall/internal/wasm/abi"
)

// TestHeaderMapEncode checks the hand-written map encoder against
// abi.EncodePairs, pseudo headers included.
func TestHeaderMapEncode(t *testing.T) {
	x := exchange("GET", "/p?q=1", "user-agent", "t", "x-empty", "", "accept", "*/*")
	x.Resp.Status = 204
	x.Resp.Header.AddString("content-type", "text/plain")
	pairs := func(kv ...string) []abi.Pair {
		var out []abi.Pair
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, abi.Pair{Key: []byte(kv[i]), Value: []byte(kv[i+1])})
		}
		return out
	}
	for _, tc := range []struct {
		name string
		m    hmap
		want []abi.Pair
	}{
		{"request", hmap{h: &x.Req.Header, req: &x.Req}, pairs(":authority", "example.com", ":path", "/p?q=1", ":method", "GET", ":scheme", "http",
			"user-agent", "t", "x-empty", "", "accept", "*/*")},
		{"response", hmap{h: &x.Resp.Header, resp: &x.Resp}, pairs(":status", "204", "content-type", "text/plain")},
		{"trailers", hmap{h: &x.Req.Trailer}, nil},
	} {
		want := abi.EncodePairs(tc.want)
		got := tc.m.encode([]byte("prefix"))
		if !bytes.Equal(got[6:], want) || string(got[:6]) != "prefix" {
			t.Errorf("%s: encode = %q, want %q", tc.name, got, want)
		}
		if n := testing.AllocsPerRun(100, func() { _ = tc.m.encode(got[:0]) }); n != 0 {
			t.Errorf("%s: encode allocates %v times into a large enough buffer", tc.name, n)
		}
	}
}
