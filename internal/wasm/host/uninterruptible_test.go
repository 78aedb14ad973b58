package host

import (
	"context"
	"testing"

	"github.com/heimdallgw/heimdall/internal/filter"
)

// TestUninterruptiblePlugin: a plugin loaded without termination checks
// (config.yaml call_timeout: 0) runs requests like any other, bodies and
// headers both ways.
func TestUninterruptiblePlugin(t *testing.T) {
	p := loadPluginWith(t, "headers", PluginConfig{Uninterruptible: true})
	f, err := p.NewFactory(context.Background(), "r1", []byte(`{"request":{"set":{"x-gateway":"heimdall"}},"response":{"add":{"x-served-by":"heimdall"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := 0; i < 3; i++ {
		x := exchange("GET", "/")
		r := run(t, []filter.Factory{f}, x, nil, nil, upstream{status: 200, body: chunks("ok")})
		if r.err != nil || r.local != nil {
			t.Fatalf("%+v", r)
		}
		if hdr(&x.Req.Header, "x-gateway") != "heimdall" || hdr(&x.Resp.Header, "x-served-by") != "heimdall" {
			t.Fatalf("plugin did not run: %v / %v", x.Req.Header, x.Resp.Header)
		}
	}
}
