package host

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/testutil/logbuf"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

var (
	confOnce sync.Once
	confWasm []byte
	confErr  error
)

// conformanceWasm builds testdata/conformance once per test binary.
func conformanceWasm(tb testing.TB) []byte {
	tb.Helper()
	confOnce.Do(func() {
		var p string
		p, confErr = wasmbuild.Build("internal/wasm/host/testdata/conformance")
		if confErr == nil {
			confWasm, confErr = os.ReadFile(p)
		}
	})
	if confErr != nil {
		tb.Fatal(confErr)
	}
	return confWasm
}

func loadConformance(tb testing.TB, cfg PluginConfig) (*Plugin, *logbuf.Buffer) {
	tb.Helper()
	lb := &logbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.Name == "" {
		cfg.Name = "conformance"
	}
	cfg.Wasm = conformanceWasm(tb)
	if cfg.PoolSize == 0 {
		cfg.PoolSize = 1
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = tb.TempDir()
	}
	p, err := Load(context.Background(), cfg, log)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close(context.Background()) })
	return p, lb
}

// exchange is a request as the proxy would build it.
func exchange(method, path string, hdr ...string) *filter.Exchange {
	x := &filter.Exchange{}
	x.Req.SetMethod([]byte(method))
	x.Req.SetPath([]byte(path))
	x.Req.SetAuthority([]byte("example.com"))
	x.Req.SetScheme([]byte("http"))
	x.Req.Proto = "HTTP/1.1"
	for i := 0; i+1 < len(hdr); i += 2 {
		x.Req.Header.AddString(hdr[i], hdr[i+1])
	}
	x.ID = 1
	x.RequestID = "req-1"
	x.Start = time.Now()
	x.Client = "192.0.2.1:5555"
	x.ClientIP = "192.0.2.1"
	x.Local = "127.0.0.1:9080"
	x.RouteID = "r1"
	x.UpstreamID = "u1"
	return x
}

// upstream is the fake upstream answer.
type upstream struct {
	status  int
	header  []string
	body    [][]byte
	trailer []string
}

// result is what the proxy would have sent upstream and downstream.
type result struct {
	local       *filter.LocalResponse
	err         error
	sentBody    []byte
	respBody    []byte
	reachedResp bool
}

// run drives a filter chain like the proxy: request headers, body chunks,
// trailers, then the upstream answer through the response callbacks.
func run(tb testing.TB, facs []filter.Factory, x *filter.Exchange, reqBody [][]byte, reqTrailer []string, up upstream) result {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var r result
	c, err := filter.NewChain(x, facs, filter.Options{BufferLimit: 1 << 20, PauseTimeout: 5 * time.Second})
	defer func() {
		c.Log()
		c.Done()
	}()
	if err != nil {
		r.err = err
		return r
	}
	stop := func(err error) bool {
		if err != nil {
			r.err = err
			return true
		}
		if lr := x.LocalResponse(); lr != nil {
			r.local = lr
			return true
		}
		return false
	}
	if stop(c.RequestHeaders(ctx, len(reqBody) == 0 && reqTrailer == nil)) {
		return r
	}
	for i, chunk := range reqBody {
		last := i == len(reqBody)-1 && reqTrailer == nil
		out, err := c.RequestBody(ctx, append([]byte(nil), chunk...), last)
		if stop(err) {
			return r
		}
		r.sentBody = append(r.sentBody, out...)
	}
	if reqTrailer != nil {
		for i := 0; i+1 < len(reqTrailer); i += 2 {
			x.Req.Trailer.AddString(reqTrailer[i], reqTrailer[i+1])
		}
		out, err := c.RequestTrailers(ctx)
		if stop(err) {
			return r
		}
		r.sentBody = append(r.sentBody, out...)
	}
	r.reachedResp = true
	x.Resp.Status = up.status
	for i := 0; i+1 < len(up.header); i += 2 {
		x.Resp.Header.AddString(up.header[i], up.header[i+1])
	}
	if stop(c.ResponseHeaders(ctx, len(up.body) == 0 && up.trailer == nil)) {
		return r
	}
	x.ResponseStarted = true
	for i, chunk := range up.body {
		last := i == len(up.body)-1 && up.trailer == nil
		out, err := c.ResponseBody(ctx, append([]byte(nil), chunk...), last)
		if stop(err) {
			return r
		}
		r.respBody = append(r.respBody, out...)
	}
	if up.trailer != nil {
		for i := 0; i+1 < len(up.trailer); i += 2 {
			x.Resp.Trailer.AddString(up.trailer[i], up.trailer[i+1])
		}
		out, err := c.ResponseTrailers(ctx)
		if stop(err) {
			return r
		}
		r.respBody = append(r.respBody, out...)
	}
	return r
}

func hdr(h interface{ Get(string) ([]byte, bool) }, name string) string {
	v, _ := h.Get(name)
	return string(v)
}
