package host

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/testutil/logbuf"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

// TestSeedPlugin runs plugins/heimdall (built with the repo's SDK) in both
// body modes: its #request_header lines reach the gateway log.
func TestSeedPlugin(t *testing.T) {
	path, err := wasmbuild.Build("plugins/heimdall")
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []BodyMode{BodyAlways, BodyOnRequestProperty} {
		t.Run(string(mode), func(t *testing.T) {
			lb := &logbuf.Buffer{}
			log := slog.New(slog.NewTextHandler(lb, nil))
			p, err := Load(context.Background(), PluginConfig{Name: "heimdall", Wasm: wasm, PoolSize: 1, BodyMode: mode, CacheDir: t.TempDir()}, log)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(context.Background())
			f, err := p.NewFactory(context.Background(), "r1", []byte(`{"max_body_bytes": 64}`))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			x := exchange("POST", "/anything", "host", "example.com", "authorization", "secret")
			r := run(t, []filter.Factory{f}, x, chunks("hello ", "world"), nil, upstream{status: 200, body: chunks("resp")})
			if r.err != nil || r.local != nil {
				t.Fatalf("%+v", r)
			}
			out := lb.String()
			for _, want := range []string{"#request_header", "host: example.com", "authorization: <redacted>", "#request_body", "hello world", "#response_body"} {
				if !strings.Contains(out, want) {
					t.Errorf("log lacks %q:\n%s", want, out)
				}
			}
		})
	}
}
