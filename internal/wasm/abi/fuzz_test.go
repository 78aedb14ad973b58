package abi

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/heimdallgw/heimdall/internal/testutil/fuzzseed"
)

// realMaps are header maps as the host hands them to plugins: a browser's
// request (pseudo headers first, as proxy_get_header_map_pairs encodes
// them), an API client's, and an upstream's response.
var realMaps = map[string][]Pair{
	"browser-request": pairs(
		":method", "GET", ":path", "/httpbin/get?show_env=1", ":authority", "localhost:9080", ":scheme", "http",
		"user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		"accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"accept-language", "en-US,en;q=0.5", "accept-encoding", "gzip, deflate, br, zstd",
		"connection", "keep-alive", "cookie", "session=8c2f1b; theme=dark", "upgrade-insecure-requests", "1",
		"sec-fetch-dest", "document", "sec-fetch-mode", "navigate", "priority", "u=0, i"),
	"api-request": pairs(
		":method", "POST", ":path", "/anything/v1/orders", ":authority", "api.example.com", ":scheme", "https",
		"authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9IV7pAx_Zmeo",
		"content-type", "application/json", "content-length", "27", "x-request-id", "7f3c9a1e-2b4d-4e6f-8a9b-0c1d2e3f4a5b",
		"x-forwarded-for", "203.0.113.7, 10.0.0.1", "x-api-key", ""),
	"upstream-response": pairs(
		":status", "200", "date", "Fri, 04 Dec 2026 20:00:00 GMT", "content-type", "application/json; charset=utf-8",
		"content-length", "312", "access-control-allow-origin", "*", "access-control-allow-credentials", "true",
		"set-cookie", "a=1; Path=/", "set-cookie", "b=2; Path=/; HttpOnly"),
	"empty-values": pairs("", "", "x", "", "", "y"),
	"binary":       pairs("k\x00ey", "v\xffal\r\n", "\x00", "\x00\x00"),
}

func pairs(kv ...string) []Pair {
	var out []Pair
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, Pair{Key: []byte(kv[i]), Value: []byte(kv[i+1])})
	}
	return out
}

func TestFuzzSeeds(t *testing.T) {
	var dec, rt []fuzzseed.Seed
	for name, p := range realMaps {
		b := EncodePairs(p)
		dec = append(dec, fuzzseed.Seed{Name: name, Values: []any{b}})
		dec = append(dec, fuzzseed.Seed{Name: name + "-truncated", Values: []any{b[:len(b)-3]}})
		var flat []byte
		for _, kv := range p {
			flat = append(append(append(append(flat, kv.Key...), 0xff), kv.Value...), 0xff)
		}
		rt = append(rt, fuzzseed.Seed{Name: name, Values: []any{flat}})
	}
	huge := binary.LittleEndian.AppendUint32(nil, 0xffffffff)
	dec = append(dec,
		fuzzseed.Seed{Name: "count-overflow", Values: []any{append(huge, make([]byte, 16)...)}},
		fuzzseed.Seed{Name: "length-overflow", Values: []any{append(binary.LittleEndian.AppendUint32(
			binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 1), 0xfffffffe), 0xffffffff), 0, 0)}},
		fuzzseed.Seed{Name: "short", Values: []any{[]byte{1, 0, 0}}},
	)
	fuzzseed.Sync(t, "FuzzDecodeMap", dec)
	fuzzseed.Sync(t, "FuzzMapRoundTrip", rt)
}

// FuzzDecodeMap decodes arbitrary bytes as a guest-written map
// (proxy_set_header_map_pairs, proxy_send_local_response headers): no panic,
// pairs within the input, the pair count and lengths bounded by its size,
// and the re-encoding is the input's prefix up to the NUL separators
// (which DecodeMap skips without checking, as Envoy does).
func FuzzDecodeMap(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var got []Pair
		var data int
		err := DecodeMap(b, func(k, v []byte) {
			got = append(got, Pair{Key: k, Value: v})
			data += len(k) + len(v)
		})
		if err != nil {
			if err != ErrBadMap {
				t.Fatalf("error %v, want ErrBadMap", err)
			}
			return
		}
		if len(b) == 0 {
			if len(got) != 0 {
				t.Fatal("pairs from empty input")
			}
			return
		}
		size := MapSize(len(got), data)
		if size > len(b) {
			t.Fatalf("%d pairs of %d bytes need %d bytes, input has %d", len(got), data, size, len(b))
		}
		if n := binary.LittleEndian.Uint32(b); int(n) != len(got) {
			t.Fatalf("decoded %d pairs, header says %d", len(got), n)
		}
		enc := EncodePairs(got)
		if len(enc) != size {
			t.Fatalf("re-encoding is %d bytes, MapSize %d", len(enc), size)
		}
		// Separator positions: after each key and value in the data part.
		want := append([]byte(nil), b[:size]...)
		off := 4 + 8*len(got)
		for _, p := range got {
			off += len(p.Key)
			want[off] = 0
			off += 1 + len(p.Value)
			want[off] = 0
			off++
		}
		if !bytes.Equal(enc, want) {
			t.Fatalf("re-encoding differs from the input\n got %q\nwant %q", enc, want)
		}
		again, err := DecodePairs(enc)
		if err != nil || len(again) != len(got) {
			t.Fatalf("re-decoding: %d pairs, %v", len(again), err)
		}
	})
}

// FuzzMapRoundTrip encodes arbitrary pairs (the input split at 0xff bytes
// into key, value, key, ...) and decodes them back unchanged.
func FuzzMapRoundTrip(f *testing.F) {
	f.Fuzz(func(t *testing.T, flat []byte) {
		parts := bytes.Split(flat, []byte{0xff})
		var in []Pair
		data := 0
		for i := 0; i+1 < len(parts); i += 2 {
			in = append(in, Pair{Key: parts[i], Value: parts[i+1]})
			data += len(parts[i]) + len(parts[i+1])
		}
		enc := AppendMap([]byte("prefix"), len(in), func(i int) ([]byte, []byte) { return in[i].Key, in[i].Value })
		if !bytes.HasPrefix(enc, []byte("prefix")) {
			t.Fatal("AppendMap overwrote dst")
		}
		enc = enc[len("prefix"):]
		if len(enc) != MapSize(len(in), data) {
			t.Fatalf("encoded %d bytes, MapSize %d", len(enc), MapSize(len(in), data))
		}
		out, err := DecodePairs(enc)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != len(in) {
			t.Fatalf("%d pairs back, want %d", len(out), len(in))
		}
		for i := range in {
			if !bytes.Equal(in[i].Key, out[i].Key) || !bytes.Equal(in[i].Value, out[i].Value) {
				t.Fatalf("pair %d: %q, want %q", i, out[i], in[i])
			}
		}
	})
}
