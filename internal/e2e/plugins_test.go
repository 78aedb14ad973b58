package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestHeadersPlugin runs the headers plugin with the default call timeout
// and as a trusted plugin (call_timeout: 0, no termination checks): the
// behaviour is the same.
func TestHeadersPlugin(t *testing.T) {
	for _, callTimeout := range []string{"", "0"} {
		t.Run("call_timeout="+callTimeout, func(t *testing.T) {
			conf := `{"request": {"remove": ["x-internal"], "set": {"x-env": "prod"}, "add": {"via": "heimdall"}},` +
				` "response": {"remove": ["access-control-allow-origin", "x-upstream-secret"], "set": {"x-frame-options": "DENY"}, "add": {"x-served-by": "heimdall"}}}`
			g := Start(t, Options{
				Plugins: []Plugin{{Name: "headers", Priority: 1000, CallTimeout: callTimeout}},
				Routes:  routes(route("1", "/*", "headers", conf)),
			})

			t.Run("request", func(t *testing.T) {
				resp, body := do(t, newReq(t, "GET", g.URL+"/headers", nil,
					"X-Internal", "1", "Via", "proxy", "X-Env", "dev", "X-Env", "staging", "X-Kept", "yes"))
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				h := decodeEcho(t, body).Headers
				if v, ok := h["X-Internal"]; ok {
					t.Errorf("x-internal reached the upstream: %q", v)
				}
				if got := h["X-Env"]; !reflect.DeepEqual(got, []string{"prod"}) {
					t.Errorf("upstream x-env = %q, want [prod] (set replaces every value)", got)
				}
				if got := h["Via"]; !reflect.DeepEqual(got, []string{"proxy", "heimdall"}) {
					t.Errorf("upstream via = %q, want [proxy heimdall] (add appends)", got)
				}
				if got := h["X-Kept"]; !reflect.DeepEqual(got, []string{"yes"}) {
					t.Errorf("upstream x-kept = %q, want [yes]", got)
				}
			})

			t.Run("response", func(t *testing.T) {
				// httpbin answers with the headers asked for in the query.
				resp, body := do(t, newReq(t, "GET", g.URL+
					"/response-headers?X-Frame-Options=SAMEORIGIN&X-Served-By=upstream&X-Upstream-Secret=1&X-Other=kept", nil))
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				h := resp.Header
				for _, gone := range []string{"Access-Control-Allow-Origin", "X-Upstream-Secret"} {
					if v, ok := h[gone]; ok {
						t.Errorf("%s not removed: %q", gone, v)
					}
				}
				if got := h["X-Frame-Options"]; !reflect.DeepEqual(got, []string{"DENY"}) {
					t.Errorf("x-frame-options = %q, want [DENY]", got)
				}
				if got := h["X-Served-By"]; !reflect.DeepEqual(got, []string{"upstream", "heimdall"}) {
					t.Errorf("x-served-by = %q, want [upstream heimdall]", got)
				}
				if got := h.Get("X-Other"); got != "kept" {
					t.Errorf("x-other = %q, want kept", got)
				}
				if cl := resp.Header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(body)) {
					t.Errorf("content-length %s, body %d bytes", cl, len(body))
				}
			})
		})
	}
}

func TestAuthPlugin(t *testing.T) {
	g := Start(t, Options{
		Plugins: []Plugin{{Name: "auth", Priority: 2500}},
		Routes: routes(
			route("hidden", "/headers", "auth", `{"keys": ["key-1", "key-2"], "hide_credentials": true}`),
			route("shown", "/anything/*", "auth", `{"header": "X-Key", "keys": ["open-sesame"]}`),
		),
	})
	type want struct {
		status int
		body   string
	}
	cases := []struct {
		name string
		path string
		hdr  []string
		want want
	}{
		{"missing", "/headers", nil, want{401, `{"message":"missing API key"}` + "\n"}},
		{"empty", "/headers", []string{"X-Api-Key", ""}, want{401, `{"message":"missing API key"}` + "\n"}},
		{"wrong", "/headers", []string{"X-Api-Key", "key-3"}, want{403, `{"message":"invalid API key"}` + "\n"}},
		{"other route's key", "/headers", []string{"X-Api-Key", "open-sesame"}, want{403, `{"message":"invalid API key"}` + "\n"}},
		{"prefix of a key", "/headers", []string{"X-Api-Key", "key-"}, want{403, `{"message":"invalid API key"}` + "\n"}},
		{"custom header missing", "/anything/x", []string{"X-Api-Key", "open-sesame"}, want{401, `{"message":"missing API key"}` + "\n"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := do(t, newReq(t, "GET", g.URL+c.path, nil, c.hdr...))
			if resp.StatusCode != c.want.status || string(body) != c.want.body {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, c.want.status, c.want.body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content-type %q", ct)
			}
			wa := resp.Header.Get("WWW-Authenticate")
			switch {
			case c.want.status == 401 && c.path == "/headers" && wa != `ApiKey header="x-api-key"`:
				t.Errorf("www-authenticate %q, want ApiKey header=\"x-api-key\"", wa)
			case c.want.status == 401 && c.path != "/headers" && !strings.EqualFold(wa, `ApiKey header="x-key"`):
				t.Errorf("www-authenticate %q, want ApiKey header=\"x-key\"", wa)
			case c.want.status == 403 && wa != "":
				t.Errorf("403 with www-authenticate %q", wa)
			}
		})
	}
	g.WaitLog(t, "auth rejection line", func(e Entry) bool {
		return e.Str("plugin") == "auth" && regexp.MustCompile(`^auth: \d+: rejected with 403$`).MatchString(e.Msg)
	})
	g.WaitLog(t, "auth rejection line", func(e Entry) bool {
		return e.Str("plugin") == "auth" && regexp.MustCompile(`^auth: \d+: rejected with 401$`).MatchString(e.Msg)
	})

	t.Run("valid key, hidden", func(t *testing.T) {
		resp, body := do(t, newReq(t, "GET", g.URL+"/headers", nil, "X-Api-Key", "key-2", "X-Other", "1"))
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		h := decodeEcho(t, body).Headers
		if v, ok := h["X-Api-Key"]; ok {
			t.Errorf("hide_credentials: the key reached the upstream: %q", v)
		}
		if h.Get("X-Other") != "1" {
			t.Errorf("other headers lost: %v", h)
		}
	})
	t.Run("valid key, forwarded", func(t *testing.T) {
		resp, body := do(t, newReq(t, "GET", g.URL+"/anything/x", nil, "X-Key", "open-sesame"))
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if got := decodeEcho(t, body).Headers.Get("X-Key"); got != "open-sesame" {
			t.Errorf("upstream x-key = %q, want it forwarded", got)
		}
	})
}

// rawGet sends a GET over a fresh connection with Connection: close and
// returns the status line, the headers and the body exactly as framed on the
// wire (content-length checked against what arrived, chunked decoded).
func rawGet(t *testing.T, addr, path string) (string, http.Header, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, addr)
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	head, rest, ok := bytes.Cut(all, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("no end of headers in %q", all)
	}
	lines := strings.Split(string(head), "\r\n")
	h := http.Header{}
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, ":")
		h.Add(k, strings.TrimSpace(v))
	}
	switch {
	case h.Get("Content-Length") != "":
		if h.Get("Transfer-Encoding") != "" {
			t.Errorf("both content-length and transfer-encoding: %v", h)
		}
		n, err := strconv.Atoi(h.Get("Content-Length"))
		if err != nil || n != len(rest) {
			t.Errorf("content-length %q but %d body bytes arrived before the connection closed", h.Get("Content-Length"), len(rest))
		}
	case strings.EqualFold(h.Get("Transfer-Encoding"), "chunked"):
		dec, err := io.ReadAll(httputil.NewChunkedReader(bufio.NewReader(bytes.NewReader(rest))))
		if err != nil {
			t.Fatalf("bad chunked body: %v", err)
		}
		rest = dec
	}
	return lines[0], h, rest
}

func TestJSONMaskPlugin(t *testing.T) {
	g := Start(t, Options{
		Plugins: []Plugin{{Name: "jsonmask", Priority: 1000}},
		Routes:  routes(route("1", "/*", "jsonmask", `{"fields": ["author", "date", "items", "password", "ssn"]}`)),
	})

	t.Run("httpbin /json, byte for byte", func(t *testing.T) {
		resp, err := Client().Get(g.Upstream.URL + "/json")
		if err != nil {
			t.Fatal(err)
		}
		direct, _ := io.ReadAll(resp.Body)
		resp.Body.Close()

		status, h, body := rawGet(t, g.Addr, "/json")
		if !strings.Contains(status, " 200 ") {
			t.Fatalf("status line %q", status)
		}
		if !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
			t.Errorf("content-type %q", h.Get("Content-Type"))
		}
		t.Logf("framing: content-length %q transfer-encoding %q, %d bytes", h.Get("Content-Length"), h.Get("Transfer-Encoding"), len(body))
		if h.Get("Content-Length") == "" && h.Get("Transfer-Encoding") == "" {
			t.Errorf("response framed by connection close only: %v", h)
		}
		// The upstream's document with those members' values replaced in place,
		// everything else (order, indentation) unchanged.
		want := regexp.MustCompile(`("(?:author|date)": )"[^"]*"`).ReplaceAll(direct, []byte(`$1"***"`))
		want = regexp.MustCompile(`(?s)("items": )\[.*?\]`).ReplaceAll(want, []byte(`$1"***"`))
		if !bytes.Contains(direct, []byte(`"items"`)) || bytes.Equal(want, direct) {
			t.Fatalf("httpbin /json changed shape; the test's expectation is wrong:\n%s", direct)
		}
		if !bytes.Equal(body, want) {
			t.Errorf("masked body:\n%s\nwant:\n%s", body, want)
		}
	})

	t.Run("echoed JSON, nested and non-string values", func(t *testing.T) {
		doc := `{"user":"bob","password":"hunter2","card":{"ssn":123,"note":"password"},"list":[{"ssn":null},{"items":[1,2]}]}`
		req := newReq(t, "POST", g.URL+"/anything/x", strings.NewReader(doc), "Content-Type", "application/json")
		resp, body := do(t, req)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if resp.ContentLength != -1 && resp.ContentLength != int64(len(body)) {
			t.Errorf("Content-Length %d, body %d bytes", resp.ContentLength, len(body))
		}
		e := decodeEcho(t, body)
		// The request body is not masked (the plugin works on responses): the
		// upstream saw the original, and httpbin's "data" is a string, so the
		// field names inside it are not members.
		if e.Data != doc {
			t.Errorf("echoed data %q, want the original %q", e.Data, doc)
		}
		var wantJSON map[string]any
		json.Unmarshal([]byte(`{"user":"bob","password":"***","card":{"ssn":"***","note":"password"},"list":[{"ssn":"***"},{"items":"***"}]}`), &wantJSON)
		if !reflect.DeepEqual(e.JSON, wantJSON) {
			t.Errorf("echoed json %v, want %v", e.JSON, wantJSON)
		}
		if e.Method != "POST" || !strings.HasSuffix(e.URL, "/anything/x") {
			t.Errorf("rest of the document changed: method %q url %q", e.Method, e.URL)
		}
	})

	t.Run("non-JSON passes untouched", func(t *testing.T) {
		for _, path := range []string{"/html", "/robots.txt", "/xml"} {
			resp, err := Client().Get(g.Upstream.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			direct, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			_, h, body := rawGet(t, g.Addr, path)
			if !bytes.Equal(body, direct) {
				t.Errorf("%s: body changed", path)
			}
			if got, want := h.Get("Content-Length"), resp.Header.Get("Content-Length"); got != want {
				t.Errorf("%s: content-length %q, upstream sent %q (headers are untouched)", path, got, want)
			}
		}
	})
}
