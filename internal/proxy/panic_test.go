package proxy_test

import (
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/proxy"
	"github.com/heimdallgw/heimdall/internal/server"
)

// panicky panics in the callback named by the request header x-panic.
type panicky struct{}

func (panicky) Name() string { return "panicky" }

func (panicky) NewStreamFilter(x *filter.Exchange) (filter.StreamFilter, error) {
	v, _ := x.Req.Header.Get("x-panic")
	if string(v) == "new" {
		panic("panicky: new stream filter")
	}
	return &panickyFilter{where: string(v)}, nil
}

type panickyFilter struct {
	filter.Base
	where string
}

func (f *panickyFilter) at(w string) {
	if f.where == w {
		panic("panicky: " + w)
	}
}

func (f *panickyFilter) OnRequestHeaders(*filter.Exchange, bool) filter.Action {
	f.at("request_headers")
	return filter.Continue
}

func (f *panickyFilter) OnRequestBody(*filter.Exchange, *filter.Body, bool) filter.Action {
	f.at("request_body")
	return filter.Continue
}

func (f *panickyFilter) OnResponseHeaders(*filter.Exchange, bool) filter.Action {
	f.at("response_headers")
	return filter.Continue
}

func (f *panickyFilter) OnResponseBody(*filter.Exchange, *filter.Body, bool) filter.Action {
	f.at("response_body")
	return filter.Continue
}

func (f *panickyFilter) OnLog(*filter.Exchange)  { f.at("log") }
func (f *panickyFilter) OnDone(*filter.Exchange) { f.at("done") }

// TestFilterPanics: a panic in any filter callback fails only its request
// (500 with the JSON error body before the response started, an aborted
// response after; log and done come after the answer), the connection
// stays usable, and goroutines and file descriptors stay flat across a
// few hundred of them, over HTTP/1.1 and HTTP/2.
func TestFilterPanics(t *testing.T) {
	up := named(t, "upstream")
	e := newEnv(t, server.Config{}, map[string]*proxy.Route{
		"/": {ID: "r1", Upstream: upstream(t, nil, hostPort(up)), Filters: []filter.Factory{panicky{}}},
	})
	count := func() (int, int) {
		ents, _ := os.ReadDir("/proc/self/fd")
		return runtime.NumGoroutine(), len(ents)
	}
	cases := []struct {
		where string
		want  int // 0: the response is aborted
	}{
		{"new", 500}, {"request_headers", 500}, {"request_body", 500}, {"response_headers", 500},
		{"response_body", 0}, {"log", 200}, {"done", 200},
	}
	round := func(t *testing.T, pr proto, n int) {
		c := pr.client(e)
		for i := 0; i < n; i++ {
			for _, tc := range cases {
				req, _ := http.NewRequest("POST", pr.base(e)+"/x", strings.NewReader("body"))
				req.Header.Set("x-panic", tc.where)
				resp, err := c.Do(req)
				st := 0
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil {
						st = resp.StatusCode
					}
				}
				if st != tc.want {
					t.Fatalf("%s: panic in %s: status %d (err %v), want %d", pr.name, tc.where, st, err, tc.want)
				}
				if st == 500 && string(body) != `{"error_msg":"500 Internal Server Error"}`+"\n" {
					t.Fatalf("%s: panic in %s: body %q", pr.name, tc.where, body)
				}
				// The same client (and, unless the response was
				// aborted, the same connection) serves the next one.
				if _, b := do(t, c, "GET", pr.base(e)+"/ok", nil, nil); b != "upstream" {
					t.Fatalf("%s: after a panic in %s: %q", pr.name, tc.where, b)
				}
			}
		}
	}
	for _, pr := range protos {
		t.Run(pr.name, func(t *testing.T) {
			round(t, pr, 3)
			g0, fd0 := count()
			round(t, pr, 30)
			deadline := time.Now().Add(10 * time.Second)
			g1, fd1 := count()
			for (g1 > g0+2 || fd1 > fd0+2) && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
				g1, fd1 = count()
			}
			if g1 > g0+2 || fd1 > fd0+2 {
				t.Errorf("after %d panics: goroutines %d -> %d, fds %d -> %d", 30*len(cases), g0, g1, fd0, fd1)
			}
		})
	}
}
