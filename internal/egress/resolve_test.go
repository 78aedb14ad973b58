package egress

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/heimdallgw/heimdall/internal/testutil/logbuf"
)

// TestResolve: the refusals the native Redis ABI relied on through the
// sockets Extension (moved here with the policy), logged with plugin, op,
// destination and reason.
func TestResolve(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		policy Config
		host   string
		port   int
		want   []string // allowed addresses; nil = refused
		log    string   // substring of the refusal line
	}{
		{"no policy", Config{}, "127.0.0.1", 6379, nil,
			`plugin=allow-test op=redis_init destination=127.0.0.1:6379`},
		{"exact entry", Config{Allow: []string{"127.0.0.1/32:6379"}}, "127.0.0.1", 6379, []string{"127.0.0.1:6379"}, ""},
		{"other port", Config{Allow: []string{"127.0.0.1/32:6379"}}, "127.0.0.1", 6380, nil,
			`destination=127.0.0.1:6380 reason=`},
		{"loopback by default", Config{Allow: []string{"0.0.0.0/0"}}, "127.0.0.1", 6379, nil,
			`destination=127.0.0.1:6379 reason="loopback address not explicitly allowed"`},
		{"gateway port", Config{Allow: []string{"127.0.0.0/8"}}, "127.0.0.1", 9080, nil,
			`reason="gateway port not explicitly allowed"`},
		{"name without dns", Config{Allow: []string{"127.0.0.1/32:6379"}}, "localhost", 6379, nil,
			`destination=localhost:6379 reason="dns not allowed"`},
		{"name resolving to an allowed address", Config{Allow: []string{"127.0.0.1/32:6379"}, DNS: true}, "localhost", 6379,
			[]string{"127.0.0.1:6379"}, ""},
		{"name entry does not open loopback", Config{Allow: []string{"localhost:6379"}, DNS: true}, "localhost", 6379, nil,
			`destination="localhost:6379 (127.0.0.1`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lb := &logbuf.Buffer{}
			cfg := c.policy
			cfg.Plugin = "allow-test"
			cfg.Reserved = []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:9080")}
			cfg.Logger = slog.New(slog.NewTextHandler(lb, nil))
			e, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.Resolve(ctx, "redis_init", c.host, c.port)
			if c.want == nil {
				if !errors.Is(err, ErrRefused) {
					t.Fatalf("Resolve = %v, %v; want a refusal", got, err)
				}
				if !strings.Contains(lb.String(), "plugin network access refused") || !strings.Contains(lb.String(), c.log) {
					t.Fatalf("log lacks %q:\n%s", c.log, lb)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v (log %s)", err, lb)
			}
			var s []string
			for _, ap := range got {
				s = append(s, ap.String())
			}
			if strings.Join(s, ",") != strings.Join(c.want, ",") {
				t.Fatalf("Resolve = %v, want %v", s, c.want)
			}
			if lb.String() != "" {
				t.Fatalf("unexpected log: %s", lb)
			}
		})
	}
}
