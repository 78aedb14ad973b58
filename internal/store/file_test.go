package store

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/testutil/logbuf"
)

const routesV1 = `routes:
  - id: 1
    uri: /v1/*
    upstream_id: 1
upstreams:
  - id: 1
    nodes:
      "127.0.0.1:8080": 1
#END
`

const routesV2 = `routes:
  - id: 1
    uri: /v2/*
    upstream_id: 1
  - id: 2
    uri: /other
    upstream_id: 1
upstreams:
  - id: 1
    nodes:
      "127.0.0.1:8080": 1
#END
`

const routesInvalid = `routes:
  - id: 1
    uri: /v3/*
    upstream:
      type: rr
      nodes:
        "127.0.0.1:8080": 1
#END
`

type fixture struct {
	dir    string
	routes string
	conf   string
	logs   *logbuf.Buffer
	pushed []*Snapshot
	file   *File
}

func newFixture(t *testing.T, initial string) *fixture {
	t.Helper()
	fx := &fixture{dir: t.TempDir(), logs: &logbuf.Buffer{}}
	fx.conf = filepath.Join(fx.dir, "config.yaml")
	fx.routes = filepath.Join(fx.dir, "apisix.yaml")
	write(t, fx.conf, "apisix:\n  node_listen: 9080\n")
	write(t, fx.routes, initial)
	m, err := config.LoadMain(fx.conf)
	if err != nil {
		t.Fatal(err)
	}
	fx.file = NewFile(m, FileOptions{
		Interval: time.Millisecond,
		Logger:   slog.New(slog.NewTextHandler(fx.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnChange: func(s *Snapshot) { fx.pushed = append(fx.pushed, s) },
	})
	return fx
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func firstURI(s *Snapshot) string { return s.Routes.Routes[0].URIs[0] }

func TestLoad(t *testing.T) {
	fx := newFixture(t, routesV1)
	s, err := fx.file.Load()
	if err != nil {
		t.Fatal(err)
	}
	if s.Version != 1 || firstURI(s) != "/v1/*" || fx.file.Current() != s {
		t.Errorf("snapshot = %+v", s)
	}
	if len(fx.pushed) != 0 {
		t.Errorf("Load called OnChange")
	}

	bad := newFixture(t, routesInvalid)
	_, err = bad.file.Load()
	var errs config.Errors
	if !errors.As(err, &errs) || !strings.Contains(err.Error(), `apisix.yaml:5:13: routes[0].upstream.type: unknown balancer "rr"`) {
		t.Errorf("Load error = %v", err)
	}
}

func TestPoll(t *testing.T) {
	tests := []struct {
		name string
		// steps are file contents written one after the other; after each
		// write the provider polls once.
		steps      []string
		wantPushed []string // first route uri of each pushed snapshot
		wantLogs   []string
		current    string // first route uri of the current snapshot
	}{
		{
			name:       "valid change is pushed",
			steps:      []string{routesV2},
			wantPushed: []string{"/v2/*"},
			wantLogs:   []string{"routes reloaded", "version=2"},
			current:    "/v2/*",
		},
		{
			name:       "unchanged content is not pushed again",
			steps:      []string{routesV1, routesV1},
			wantPushed: nil,
			current:    "/v1/*",
		},
		{
			name:       "rewriting identical content after a change is pushed once",
			steps:      []string{routesV2, routesV2},
			wantPushed: []string{"/v2/*"},
			current:    "/v2/*",
		},
		{
			name:       "invalid change is not pushed and is logged with its position",
			steps:      []string{routesInvalid},
			wantPushed: nil,
			wantLogs: []string{
				"invalid routes file; keeping the current configuration",
				`apisix.yaml:5:13: routes[0].upstream.type: unknown balancer \"rr\"; allowed: roundrobin, chash`,
			},
			current: "/v1/*",
		},
		{
			name:       "file without #END is not pushed",
			steps:      []string{strings.TrimSuffix(routesV2, "#END\n")},
			wantPushed: nil,
			wantLogs:   []string{"level=DEBUG", "no #END line yet"},
			current:    "/v1/*",
		},
		{
			name:       "file completed after a partial write is pushed",
			steps:      []string{routesV2[:40], routesV2},
			wantPushed: []string{"/v2/*"},
			current:    "/v2/*",
		},
		{
			name:       "fixing an invalid file is pushed",
			steps:      []string{routesInvalid, routesV2},
			wantPushed: []string{"/v2/*"},
			current:    "/v2/*",
		},
		{
			name:       "returning to the current content after an invalid one is not pushed",
			steps:      []string{routesInvalid, routesV1},
			wantPushed: nil,
			current:    "/v1/*",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, routesV1)
			if _, err := fx.file.Load(); err != nil {
				t.Fatal(err)
			}
			for _, content := range tt.steps {
				write(t, fx.routes, content)
				fx.file.poll()
			}
			var got []string
			for _, s := range fx.pushed {
				got = append(got, firstURI(s))
			}
			if strings.Join(got, ",") != strings.Join(tt.wantPushed, ",") {
				t.Errorf("pushed %v, want %v", got, tt.wantPushed)
			}
			logs := fx.logs.String()
			for _, w := range tt.wantLogs {
				if !strings.Contains(logs, w) {
					t.Errorf("logs lack %q:\n%s", w, logs)
				}
			}
			if c := fx.file.Current(); c == nil || firstURI(c) != tt.current {
				t.Errorf("current = %v, want first uri %s", c, tt.current)
			}
		})
	}
}

func TestInvalidLoggedOnce(t *testing.T) {
	fx := newFixture(t, routesV1)
	if _, err := fx.file.Load(); err != nil {
		t.Fatal(err)
	}
	write(t, fx.routes, routesInvalid)
	for range 3 {
		fx.file.poll()
	}
	if n := strings.Count(fx.logs.String(), "invalid routes file"); n != 1 {
		t.Errorf("invalid file logged %d times, want 1", n)
	}
}

func TestMissingFile(t *testing.T) {
	fx := newFixture(t, routesV1)
	if _, err := fx.file.Load(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(fx.routes); err != nil {
		t.Fatal(err)
	}
	fx.file.poll()
	fx.file.poll()
	if n := strings.Count(fx.logs.String(), "cannot read routes file"); n != 1 {
		t.Errorf("missing file logged %d times, want 1:\n%s", n, fx.logs.String())
	}
	if firstURI(fx.file.Current()) != "/v1/*" {
		t.Error("current snapshot lost")
	}
	write(t, fx.routes, routesV2)
	fx.file.poll()
	if len(fx.pushed) != 1 || firstURI(fx.pushed[0]) != "/v2/*" {
		t.Errorf("pushed %v after the file came back", fx.pushed)
	}
}

func TestConfigYAMLChangeNeedsRestart(t *testing.T) {
	fx := newFixture(t, routesV1)
	if _, err := fx.file.Load(); err != nil {
		t.Fatal(err)
	}
	fx.file.poll()
	write(t, fx.conf, "apisix:\n  node_listen: 9090\n")
	fx.file.poll()
	if !strings.Contains(fx.logs.String(), "config.yaml changed; restart heimdall to apply it") {
		t.Errorf("no restart warning:\n%s", fx.logs.String())
	}
	if len(fx.pushed) != 0 {
		t.Errorf("config.yaml change pushed a snapshot")
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	conf, routes := filepath.Join(dir, "config.yaml"), filepath.Join(dir, "apisix.yaml")
	write(t, conf, "")
	write(t, routes, routesV1)
	m, err := config.LoadMain(conf)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *Snapshot, 4)
	f := NewFile(m, FileOptions{Interval: time.Millisecond, OnChange: func(s *Snapshot) { got <- s }})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	// Without Load, Run delivers the first valid content itself.
	if s := <-got; s.Version != 1 || firstURI(s) != "/v1/*" {
		t.Fatalf("first snapshot = %+v", s)
	}
	write(t, routes, routesV2)
	if s := <-got; s.Version != 2 || firstURI(s) != "/v2/*" {
		t.Fatalf("second snapshot = %+v", s)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v", err)
	}
	select {
	case s := <-got:
		t.Errorf("unexpected snapshot %+v", s)
	default:
	}
}
