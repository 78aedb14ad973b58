package proxy_test

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/proxy"
	"github.com/heimdallgw/heimdall/internal/server"
)

// rewriteFilter changes the method and path, as proxy-rewrite does.
type rewriteFilter struct{ filter.Base }

func (rewriteFilter) Name() string { return "rewrite" }
func (rewriteFilter) NewStreamFilter(*filter.Exchange) (filter.StreamFilter, error) {
	return rewriteFilter{}, nil
}
func (rewriteFilter) OnRequestHeaders(x *filter.Exchange, _ bool) filter.Action {
	x.Req.SetMethod([]byte("POST"))
	x.Req.SetPath([]byte("/rewritten/longer/than/the/original?r=1"))
	return filter.Continue
}

// The logs show the request line as received (nginx's $request), not the
// one filters forwarded; the error log's upstream shows the forwarded path.
func TestLogsShowOriginalRequestLine(t *testing.T) {
	var access, errs syncBuf
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Method+" "+r.URL.RequestURI()) //nolint:errcheck
	}))
	defer echo.Close()
	dead := deadAddr(t)
	p := proxy.New(proxy.Options{
		AccessLog: slog.New(slog.NewJSONHandler(&access, nil)),
		ErrorLog:  slog.New(slog.NewJSONHandler(&errs, nil)),
	})
	p.SetRoutes(prefixTable(map[string]*proxy.Route{
		"/orig": {ID: "ok", Upstream: upstream(t, nil, hostPort(echo)), Filters: []filter.Factory{rewriteFilter{}}},
		"/dead": {ID: "dead", Upstream: upstream(t, nil, dead), Filters: []filter.Factory{rewriteFilter{}}},
	}))
	srv := server.New(server.Config{}, p)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(l) //nolint:errcheck
	defer srv.Shutdown(t.Context())
	c := newEnv(t, server.Config{}, nil).h1
	base := "http://" + l.Addr().String()

	for i := 0; i < 2; i++ { // the second request reuses the pooled stream
		if _, body := do(t, c, "GET", base+"/orig?q=1", nil, nil); body != "POST /rewritten/longer/than/the/original?r=1" {
			t.Fatalf("upstream got %q, want the rewritten request", body)
		}
	}
	do(t, c, "GET", base+"/dead/x", nil, nil)

	al := access.lines(t)
	if len(al) != 3 {
		t.Fatalf("%d access lines, want 3", len(al))
	}
	for i, want := range []string{"/orig?q=1", "/orig?q=1", "/dead/x"} {
		if al[i]["path"] != want || al[i]["method"] != "GET" {
			t.Errorf("access line %d: method %v path %v, want GET %s", i, al[i]["method"], al[i]["path"], want)
		}
	}
	el := errs.lines(t)
	if len(el) != 1 {
		t.Fatalf("%d error lines, want 1", len(el))
	}
	if el[0]["request"] != "GET /dead/x HTTP/1.1" {
		t.Errorf("error log request = %v, want the original request line", el[0]["request"])
	}
	if want := "http://" + dead + "/rewritten/longer/than/the/original?r=1"; el[0]["upstream"] != want {
		t.Errorf("error log upstream = %v, want %v", el[0]["upstream"], want)
	}
}
