package host

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/heimdallgw/heimdall/internal/egress"
	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/testutil/logbuf"
	"github.com/heimdallgw/heimdall/internal/testutil/redistest"
)

// loadRediscountWith loads plugins/rediscount with an egress policy and
// named upstreams.
func loadRediscountWith(t *testing.T, cfg egress.Config, named map[string]string) (*Plugin, *logbuf.Buffer) {
	t.Helper()
	lb := &logbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Plugin, cfg.Logger = "rediscount", log
	eg, err := egress.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load(context.Background(), PluginConfig{
		Name: "rediscount", Wasm: rediscountWasm(t), PoolSize: 1, Cache: rcCache(), Egress: eg,
		Upstreams: func(name string) (string, bool) { a, ok := named[name]; return a, ok },
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p, lb
}

// TestRedisNamedAndLiteral: through the Redis ABI, a plugin without policy
// reaches a named upstream (the operator's) but no host:port — neither the
// real Redis on loopback nor the metadata address, both refused at init
// before any dial (InternalFailure; the plugin then answers 503); listing
// other upstreams in network.upstreams refuses the named one too.
func TestRedisNamedAndLiteral(t *testing.T) {
	addr := redistest.Addr(t)
	key := uniqueKey(t)
	rc := redisClient(t, addr)
	t.Cleanup(func() { rc.Del(context.Background(), key) })
	named := map[string]string{"redis": addr}
	d := &recordingDialer{}

	t.Run("named upstream allowed by default", func(t *testing.T) {
		p, logs := loadRediscountWith(t, egress.Config{Dialer: d}, named)
		f := newFactory(t, p, fmt.Sprintf(`{"cluster": "redis", "key": %q}`, key))
		x := exchange("GET", "/")
		r := run(t, []filter.Factory{f}, x, nil, nil, upstream{status: 200})
		if r.err != nil || r.local != nil || hdr(&x.Resp.Header, "x-redis-count") == "" {
			t.Fatalf("err %v local %+v count %q\n%s", r.err, r.local, hdr(&x.Resp.Header, "x-redis-count"), logs)
		}
	})
	for _, tc := range []struct{ name, cluster, cfgUp, reason string }{
		{"loopback redis by address", addr, "", `destination=` + addr + ` reason="no network policy"`},
		{"metadata address", "169.254.169.254:6379", "", `destination=169.254.169.254:6379 reason="no network policy"`},
		{"named upstream not listed", "redis", "other", `destination="upstream redis" reason="upstream not in network.upstreams"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := egress.Config{Dialer: d}
			if tc.cfgUp != "" {
				cfg.Upstreams = []string{tc.cfgUp}
			}
			p, logs := loadRediscountWith(t, cfg, named)
			f := newFactory(t, p, fmt.Sprintf(`{"cluster": %q, "key": %q}`, tc.cluster, key))
			for i := 0; i < 3; i++ {
				r := run(t, []filter.Factory{f}, exchange("GET", "/"), nil, nil, upstream{status: 200})
				if r.local == nil || r.local.Status != 503 {
					t.Fatalf("want 503, got %+v err %v", r.local, r.err)
				}
			}
			l := logs.String()
			if !strings.Contains(l, "op=redis_init "+tc.reason) || !strings.Contains(l, "proxy_redis_init: ") {
				t.Fatalf("log lacks the refusal %s:\n%s", tc.reason, l)
			}
			if got := p.NetworkStats().Refused[egress.OpRedisInit]; got != 1 {
				t.Errorf("Refused[redis_init] = %d, want 1 (one init per root context)", got)
			}
		})
	}
	if got := d.dialed(); len(got) != 0 {
		t.Fatalf("the policy dialer dialled %v (named upstreams dial directly; refusals never dial)", got)
	}
}
