package proxy_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/proxy"
	"github.com/heimdallgw/heimdall/internal/server"
)

const bigBody = 100 << 20

// patternReader yields n bytes without holding them in memory.
type patternReader struct{ n int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	for i := range p {
		p[i] = byte('a' + i%26)
	}
	r.n -= int64(len(p))
	return len(p), nil
}

// memWatch samples the heap while a test streams: the test process holds
// client, gateway and upstream, none of which may buffer a whole body, so
// a growth near the body size would mean the gateway buffered it.
type memWatch struct {
	start     runtime.MemStats
	peak      atomic.Uint64
	stop      chan struct{}
	wg        sync.WaitGroup
	totalDiff uint64
}

func watchMem() *memWatch {
	runtime.GC()
	m := &memWatch{stop: make(chan struct{})}
	runtime.ReadMemStats(&m.start)
	m.peak.Store(m.start.HeapInuse)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				var s runtime.MemStats
				runtime.ReadMemStats(&s)
				if s.HeapInuse > m.peak.Load() {
					m.peak.Store(s.HeapInuse)
				}
			}
		}
	}()
	return m
}

func (m *memWatch) done(t *testing.T, what string) {
	close(m.stop)
	m.wg.Wait()
	var end runtime.MemStats
	runtime.ReadMemStats(&end)
	peak := m.peak.Load() - m.start.HeapInuse
	if m.peak.Load() < m.start.HeapInuse {
		peak = 0
	}
	alloc := end.TotalAlloc - m.start.TotalAlloc
	t.Logf("%s: peak heap growth %d KiB, allocated %d KiB for a %d MiB body", what, peak>>10, alloc>>10, bigBody>>20)
	const limit = 24 << 20
	if peak > limit {
		t.Errorf("%s: heap grew by %d MiB while streaming %d MiB", what, peak>>20, bigBody>>20)
	}
	if alloc > limit && !raceEnabled {
		t.Errorf("%s: %d MiB allocated while streaming %d MiB", what, alloc>>20, bigBody>>20)
	}
}

func TestStreamingBodies(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/download" {
			w.Header().Set("Content-Length", strconv.Itoa(bigBody))
			io.CopyBuffer(w, &patternReader{n: bigBody}, make([]byte, 32<<10)) //nolint:errcheck
			return
		}
		n, err := io.CopyBuffer(io.Discard, r.Body, make([]byte, 32<<10))
		if err != nil {
			w.WriteHeader(500)
		}
		w.Write([]byte(strconv.FormatInt(n, 10))) //nolint:errcheck
	}))
	defer up.Close()
	e := newEnv(t, server.Config{}, map[string]*proxy.Route{"/": {ID: "r", Upstream: upstream(t, nil, hostPort(up))}})
	for _, pr := range protos {
		t.Run(pr.name+"/upload", func(t *testing.T) {
			for _, chunked := range []bool{false, true} {
				m := watchMem()
				req, _ := http.NewRequest("POST", pr.base(e)+"/upload", io.NopCloser(&patternReader{n: bigBody}))
				if !chunked {
					req.ContentLength = bigBody
				}
				resp, err := pr.client(e).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				m.done(t, pr.name+" upload chunked="+strconv.FormatBool(chunked))
				if resp.StatusCode != 200 || string(b) != strconv.Itoa(bigBody) {
					t.Errorf("upload: %d %q", resp.StatusCode, b)
				}
			}
		})
		t.Run(pr.name+"/download", func(t *testing.T) {
			m := watchMem()
			resp, err := pr.client(e).Get(pr.base(e) + "/download")
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.CopyBuffer(io.Discard, resp.Body, make([]byte, 32<<10))
			resp.Body.Close()
			m.done(t, pr.name+" download")
			if err != nil || n != bigBody || resp.ContentLength != bigBody {
				t.Errorf("download: %d bytes (content-length %d), %v", n, resp.ContentLength, err)
			}
		})
	}
}

// slowUpstream holds each request until release is closed and reports
// arrivals on started.
func slowUpstream(t *testing.T) (srv *httptest.Server, started chan struct{}, release chan struct{}) {
	started, release = make(chan struct{}, 16), make(chan struct{})
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		w.Write([]byte("slow done")) //nolint:errcheck
	}))
	t.Cleanup(srv.Close)
	return srv, started, release
}

func TestGracefulShutdown(t *testing.T) {
	for _, pr := range protos {
		t.Run(pr.name, func(t *testing.T) {
			up, started, release := slowUpstream(t)
			e := newEnv(t, server.Config{}, map[string]*proxy.Route{"/": {ID: "r", Upstream: upstream(t, nil, hostPort(up))}})
			type result struct {
				status int
				body   string
				err    error
			}
			res := make(chan result, 1)
			go func() {
				resp, err := pr.client(e).Get(pr.base(e) + "/slow")
				if err != nil {
					res <- result{err: err}
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				res <- result{resp.StatusCode, string(b), err}
			}()
			<-started
			shut := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				shut <- e.srv.Shutdown(ctx)
			}()
			// Shutdown must wait for the request: it cannot have returned
			// while the upstream still holds it.
			select {
			case err := <-shut:
				t.Fatalf("Shutdown returned %v with a request in flight", err)
			case <-time.After(200 * time.Millisecond):
			}
			close(release)
			r := <-res
			if r.err != nil || r.status != 200 || r.body != "slow done" {
				t.Errorf("in-flight request: %d %q %v", r.status, r.body, r.err)
			}
			if err := <-shut; err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			// New connections are refused.
			c := &http.Client{Transport: &http.Transport{}}
			if _, err := c.Get(e.httpURL + "/"); err == nil {
				t.Error("request after Shutdown succeeded")
			}
		})
	}
}

func TestTableRetire(t *testing.T) {
	up, started, release := slowUpstream(t)
	e := newEnv(t, server.Config{}, map[string]*proxy.Route{"/": {ID: "old", Upstream: upstream(t, nil, hostPort(up))}})
	done := make(chan int, 1)
	go func() {
		resp, err := e.h1.Get(e.httpURL + "/")
		if err != nil {
			done <- 0
			return
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-started
	live := named(t, "new")
	old := e.p.SetRoutes(prefixTable(map[string]*proxy.Route{"/": {ID: "new", Upstream: upstream(t, nil, hostPort(live))}}))
	if _, body := do(t, e.h1, "GET", e.httpURL+"/", nil, nil); body != "new" {
		t.Errorf("new table not used: %q", body)
	}
	if n := old.InFlight(); n != 1 {
		t.Errorf("old table in flight = %d, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	err := old.Retire(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Retire with a request in flight: %v", err)
	}
	close(release)
	if st := <-done; st != 200 {
		t.Errorf("old request status %d", st)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := old.Wait(ctx); err != nil {
		t.Errorf("old table did not drain: %v", err)
	}
}
