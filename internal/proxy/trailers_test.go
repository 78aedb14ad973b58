package proxy_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/proxy"
	"github.com/heimdallgw/heimdall/internal/server"
)

// trailerEcho reads the whole request body, then answers it back with what
// it saw (body, request trailers, framing) as JSON, chunked, with response
// trailers.
func trailerEcho(t *testing.T) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Trailer", "X-Up-Sum, X-Up-Multi")
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{ //nolint:errcheck
			"body":    string(b),
			"trailer": r.Trailer,
			"te":      r.TransferEncoding,
			"length":  r.ContentLength,
		})
		w.(http.Flusher).Flush()
		w.Header().Set("X-Up-Sum", "up-sum")
		w.Header()["X-Up-Multi"] = []string{"m1", "m2"}
	}))
	t.Cleanup(s.Close)
	return s
}

// trailerFilter holds each body until its end (Pause on every chunk that
// is not the last: with trailers, no chunk is the last, the trailers end
// the stream) and edits the trailers both ways.
type trailerFilter struct {
	filter.Base
	mu  *sync.Mutex
	log *[]string
}

func (f trailerFilter) Name() string { return "trailers" }
func (f trailerFilter) NewStreamFilter(*filter.Exchange) (filter.StreamFilter, error) {
	return f, nil
}
func (f trailerFilter) note(s string) {
	f.mu.Lock()
	*f.log = append(*f.log, s)
	f.mu.Unlock()
}
func (f trailerFilter) OnRequestBody(_ *filter.Exchange, _ *filter.Body, eos bool) filter.Action {
	if eos {
		f.note("request body eos")
		return filter.Continue
	}
	return filter.Pause
}
func (f trailerFilter) OnResponseBody(_ *filter.Exchange, _ *filter.Body, eos bool) filter.Action {
	if eos {
		f.note("response body eos")
		return filter.Continue
	}
	return filter.Pause
}
func (f trailerFilter) OnRequestTrailers(x *filter.Exchange) filter.Action {
	v, _ := x.Req.Trailer.Get("x-sum")
	f.note("request trailers x-sum=" + string(v))
	x.Req.Trailer.SetString("x-sum", string(v)+"-filtered")
	x.Req.Trailer.AddString("x-filter-req", "added")
	return filter.Continue
}
func (f trailerFilter) OnResponseTrailers(x *filter.Exchange) filter.Action {
	v, _ := x.Resp.Trailer.Get("x-up-sum")
	f.note("response trailers x-up-sum=" + string(v))
	x.Resp.Trailer.Del("x-up-multi")
	x.Resp.Trailer.AddString("x-filter-resp", "added")
	return filter.Continue
}

// TestTrailers: request trailers reach the upstream and response trailers
// the client, over HTTP/1.1 (chunked) and HTTP/2, with and without a filter
// that buffers the bodies and edits the trailers.
func TestTrailers(t *testing.T) {
	echo := trailerEcho(t)
	var mu sync.Mutex
	var log []string
	tf := trailerFilter{mu: &mu, log: &log}
	e := newEnv(t, server.Config{}, map[string]*proxy.Route{
		"/plain":    {ID: "p", Upstream: upstream(t, nil, hostPort(echo))},
		"/filtered": {ID: "f", Upstream: upstream(t, nil, hostPort(echo)), Filters: []filter.Factory{tf}},
	})
	type echoed struct {
		Body    string
		Trailer http.Header
		TE      []string
		Length  int64
	}
	send := func(t *testing.T, c *http.Client, url string) (*http.Response, echoed) {
		t.Helper()
		// Unknown length: chunked on HTTP/1.1, DATA frames without
		// content-length on HTTP/2; the trailers are declared.
		body := io.MultiReader(strings.NewReader("hello "), strings.NewReader("trailers"))
		req, err := http.NewRequest("POST", url, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Trailer = http.Header{"X-Sum": {"abc"}, "X-Two": {"1", "2"}}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got echoed
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck // to the end: trailers
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return resp, got
	}
	for _, pr := range protos {
		t.Run(pr.name+"/plain", func(t *testing.T) {
			resp, got := send(t, pr.client(e), pr.base(e)+"/plain")
			if got.Body != "hello trailers" {
				t.Errorf("upstream body %q", got.Body)
			}
			if got.Trailer.Get("X-Sum") != "abc" || strings.Join(got.Trailer.Values("X-Two"), ",") != "1,2" {
				t.Errorf("upstream request trailers %v (te %v)", got.Trailer, got.TE)
			}
			if resp.Trailer.Get("X-Up-Sum") != "up-sum" || strings.Join(resp.Trailer.Values("X-Up-Multi"), ",") != "m1,m2" {
				t.Errorf("client response trailers %v", resp.Trailer)
			}
		})
		t.Run(pr.name+"/filtered", func(t *testing.T) {
			mu.Lock()
			log = log[:0]
			mu.Unlock()
			resp, got := send(t, pr.client(e), pr.base(e)+"/filtered")
			// The filter held the whole body; the trailers callback
			// released it ahead of the trailers.
			if got.Body != "hello trailers" {
				t.Errorf("upstream body %q", got.Body)
			}
			if len(got.TE) == 0 || got.TE[0] != "chunked" {
				t.Errorf("upstream framing te=%v length=%d, want chunked (trailers)", got.TE, got.Length)
			}
			if got.Trailer.Get("X-Sum") != "abc-filtered" || got.Trailer.Get("X-Filter-Req") != "added" ||
				strings.Join(got.Trailer.Values("X-Two"), ",") != "1,2" {
				t.Errorf("upstream request trailers %v", got.Trailer)
			}
			if resp.Trailer.Get("X-Up-Sum") != "up-sum" || resp.Trailer.Get("X-Filter-Resp") != "added" ||
				len(resp.Trailer.Values("X-Up-Multi")) != 0 {
				t.Errorf("client response trailers %v", resp.Trailer)
			}
			mu.Lock()
			defer mu.Unlock()
			want := "request trailers x-sum=abc|response trailers x-up-sum=up-sum"
			if strings.Join(log, "|") != want {
				t.Errorf("filter calls %q, want %q (no body callback ends the stream when trailers do)", log, want)
			}
		})
	}
}
