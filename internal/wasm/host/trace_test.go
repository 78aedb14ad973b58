package host

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
	"github.com/heimdallgw/heimdall/internal/wasm/abi"
)

type recTracer struct {
	mu    sync.Mutex
	lines []string
}

func (r *recTracer) HostCall(id uint32, name, args string, st abi.Status, res string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, "call "+name+"("+args+") "+st.String()+" "+res)
}

func (r *recTracer) CallbackStart(uint32, string, []uint64) {}

func (r *recTracer) SystemCall(id uint32, module, name string, params, results []uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, "wasi "+module+"."+name)
}

func (r *recTracer) Callback(id uint32, name string, args []uint64, res uint64, d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, "callback "+name)
}

func TestTraceDecodesHostCalls(t *testing.T) {
	tr := &recTracer{}
	path, err := wasmbuild.Build("plugins/heimdall")
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := Load(context.Background(), PluginConfig{Name: "heimdall", Wasm: wasm, PoolSize: 1, CacheDir: t.TempDir(), Trace: tr}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	f, err := p.NewFactory(context.Background(), "r1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	x := exchange("GET", "/traced", "x-hello", "world")
	r := run(t, []filter.Factory{f}, x, nil, nil, upstream{status: 200, body: chunks("ok")})
	if r.err != nil {
		t.Fatal(r.err)
	}
	all := strings.Join(tr.lines, "\n")
	for _, want := range []string{
		"callback proxy_on_vm_start",
		"callback proxy_on_configure",
		"callback proxy_on_request_headers",
		`call proxy_get_header_map_pairs(request_headers) Ok [":authority": "example.com", ":path": "/traced", ":method": "GET"`,
		`"x-hello": "world"]`,
		`call proxy_log(info, "#request_header `,
		"callback proxy_on_delete",
		"wasi wasi_snapshot_preview1.", // the Go runtime's clock, random, ... calls
	} {
		if !strings.Contains(all, want) {
			t.Errorf("trace lacks %q:\n%s", want, all)
		}
	}
}

// BenchmarkTraceOff and BenchmarkTraceOn run one GET through the heimdall
// plugin logging at info (request and response headers: a pairs call and a
// proxy_log per header, then log and done); Off is the gateway's
// configuration (no Tracer: the host functions are registered unwrapped,
// a callback pays a nil check), On decodes every call for a tracer that
// drops it.
func BenchmarkTraceOff(b *testing.B) { benchTrace(b, nil) }

func BenchmarkTraceOn(b *testing.B) { benchTrace(b, discardTracer{}) }

func benchTrace(b *testing.B, tr Tracer) {
	path, err := wasmbuild.Build("plugins/heimdall")
	if err != nil {
		b.Fatal(err)
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	p, err := Load(context.Background(), PluginConfig{Name: "heimdall", Wasm: wasm, PoolSize: 1, CacheDir: b.TempDir(), Trace: tr}, log)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	f, err := p.NewFactory(context.Background(), "r1", nil)
	if err != nil {
		b.Fatal(err)
	}
	benchChain(b, []filter.Factory{f}, nil)
}

type discardTracer struct{}

func (discardTracer) HostCall(uint32, string, string, abi.Status, string)             {}
func (discardTracer) CallbackStart(uint32, string, []uint64)                          {}
func (discardTracer) Callback(uint32, string, []uint64, uint64, time.Duration, error) {}
func (discardTracer) SystemCall(uint32, string, string, []uint64, []uint64)           {}
