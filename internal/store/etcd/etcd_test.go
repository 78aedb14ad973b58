package etcd

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/store"
	"github.com/heimdallgw/heimdall/internal/testutil/etcdtest"
	"github.com/heimdallgw/heimdall/internal/testutil/logbuf"
)

type fixture struct {
	t      *testing.T
	etcd   *etcdtest.Server
	cli    *clientv3.Client
	logs   *logbuf.Buffer
	p      *Provider
	pushed chan *store.Snapshot
}

func mainFor(t testing.TB, endpoint string, retry int) *config.Main {
	t.Helper()
	conf := fmt.Sprintf("deployment:\n  role: data_plane\n  role_data_plane: {config_provider: etcd}\n  etcd:\n    host: [%q]\n    prefix: /apisix\n    timeout: 1\n    startup_retry: %d\n", endpoint, retry)
	m, err := config.ParseMain("config.yaml", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	fx := &fixture{t: t, etcd: etcdtest.Start(t), logs: &logbuf.Buffer{}, pushed: make(chan *store.Snapshot, 100)}
	fx.cli = fx.etcd.Client()
	p, err := New(mainFor(t, fx.etcd.Endpoint(), 0), Options{
		Logger:         slog.New(slog.NewTextHandler(fx.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnChange:       func(s *store.Snapshot) { fx.pushed <- s },
		HealthInterval: 100 * time.Millisecond,
		MinBackoff:     20 * time.Millisecond,
		MaxBackoff:     200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	fx.p = p
	return fx
}

func (fx *fixture) put(key, value string) int64 { return fx.etcd.Put(fx.cli, key, value) }

func (fx *fixture) del(key string) {
	fx.t.Helper()
	if _, err := fx.cli.Delete(context.Background(), key); err != nil {
		fx.t.Fatal(err)
	}
}

// run starts Run and stops it (and waits) when the test ends.
func (fx *fixture) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { fx.p.Run(ctx); close(done) }()
	fx.t.Cleanup(func() { cancel(); <-done })
}

// next waits for a pushed snapshot that satisfies ok.
func (fx *fixture) next(what string, ok func(*store.Snapshot) bool) *store.Snapshot {
	fx.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case s := <-fx.pushed:
			if ok(s) {
				return s
			}
		case <-timeout:
			fx.t.Fatalf("no snapshot with %s; logs:\n%s", what, fx.logs)
			return nil
		}
	}
}

func (fx *fixture) waitLog(sub string) {
	fx.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(fx.logs.String(), sub) {
		if time.Now().After(deadline) {
			fx.t.Fatalf("log %q not written; logs:\n%s", sub, fx.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func routeURI(s *store.Snapshot, id string) string {
	for _, r := range s.Routes.Routes {
		if r.ID == id {
			return r.URIs[0]
		}
	}
	return ""
}

const upstream1 = `{"id":"1","nodes":{"127.0.0.1:8080":1},"type":"roundrobin"}`

func route(uri string) string {
	return fmt.Sprintf(`{"uri":%q,"upstream_id":"1","create_time":1700000000,"update_time":1700000000}`, uri)
}

func TestLoadValidatesEachObject(t *testing.T) {
	fx := newFixture(t)
	fx.put("/apisix/upstreams/1", upstream1)
	fx.put("/apisix/routes/1", route("/one"))
	fx.put("/apisix/routes/2", `{"uri":"two","upstream_id":"1"}`)    // invalid
	fx.put("/apisix/routes/3", `{"uri":"/three","upstream_id":"9"}`) // missing upstream
	fx.put("/apisix/routes", "init_dir")                             // directory marker
	fx.put("/apisix/services/s", `{"upstream_id":"1","plugins":{"proxy-rewrite":{"uri":"/svc"}}}`)
	fx.put("/apisix/routes/5", `{"uri":"/five","service_id":"s"}`)
	fx.put("/apisix/routes/4", `{"uri":"/four","service_id":"nope"}`)
	fx.put("/apisix/consumers/jack", `{"username":"jack"}`)
	fx.put("/other/routes/1", route("/elsewhere"))

	s, err := fx.p.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Routes.Routes) != 2 || routeURI(s, "1") != "/one" || len(s.Routes.Upstreams) != 1 || s.Routes.Routes[0].Upstream != s.Routes.Upstreams[0] {
		t.Fatalf("snapshot routes = %+v upstreams = %+v", s.Routes.Routes, s.Routes.Upstreams)
	}
	if five := s.Routes.Routes[1]; five.ID != "5" || five.Upstream != s.Routes.Upstreams[0] || five.ProxyRewrite == nil || five.ProxyRewrite.URI != "/svc" {
		t.Fatalf("snapshot routes = %+v upstreams = %+v", s.Routes.Routes, s.Routes.Upstreams)
	}
	logs := strings.ReplaceAll(fx.logs.String(), " etcd="+fx.etcd.Endpoint(), "")
	for _, want := range []string{
		`msg="invalid etcd object rejected" key=/apisix/routes/2 revision=4 error="/apisix/routes/2: uri: uri \"two\" must start with /; allowed: \"/exact\" or \"/prefix/*\"" last_valid="none; the object is not served"`,
		`msg="etcd route not served" key=/apisix/routes/3 error="/apisix/routes/3: upstream_id: upstream \"9\" not found in upstreams"`,
		`msg="etcd object not applied: Heimdall cannot apply this kind yet" key=/apisix/consumers/jack`,
		`msg="etcd route not served" key=/apisix/routes/4 error="/apisix/routes/4: service_id: service \"nope\" not found in services"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks\n%s\nlogs:\n%s", want, logs)
		}
	}
	if !fx.p.Reachable() || time.Since(fx.p.LastContact()) > time.Minute {
		t.Errorf("Reachable %v, LastContact %v", fx.p.Reachable(), fx.p.LastContact())
	}
}

func TestWatch(t *testing.T) {
	fx := newFixture(t)
	fx.put("/apisix/upstreams/1", upstream1)
	fx.put("/apisix/routes/1", route("/v1"))
	if _, err := fx.p.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	fx.run()

	fx.put("/apisix/routes/1", route("/v2"))
	s := fx.next("route 1 at /v2", func(s *store.Snapshot) bool { return routeURI(s, "1") == "/v2" })

	// An invalid new version is rejected; the previous one keeps serving,
	// and other changes still apply.
	fx.put("/apisix/routes/1", `{"uri":"/v3","upstream_id":"1","no_such_field":1}`)
	fx.waitLog(`key=/apisix/routes/1`)
	fx.waitLog(`unknown field \"no_such_field\"`)
	fx.waitLog(`last_valid="revision`)
	fx.put("/apisix/routes/2", route("/two"))
	s = fx.next("route 2", func(s *store.Snapshot) bool { return routeURI(s, "2") == "/two" })
	if routeURI(s, "1") != "/v2" {
		t.Errorf("route 1 = %q after an invalid update, want the last valid /v2", routeURI(s, "1"))
	}

	fx.del("/apisix/routes/1")
	s = fx.next("route 1 deleted", func(s *store.Snapshot) bool { return routeURI(s, "1") == "" })
	if routeURI(s, "2") != "/two" || fx.p.Current() != s {
		t.Errorf("after delete: %+v", s.Routes.Routes)
	}
}

// TestCompaction: changes made while the provider was not watching, then
// compacted away, are picked up by a full reload; nothing is lost.
func TestCompaction(t *testing.T) {
	fx := newFixture(t)
	fx.put("/apisix/upstreams/1", upstream1)
	fx.put("/apisix/routes/1", route("/v1"))
	fx.put("/apisix/routes/3", route("/three"))
	if _, err := fx.p.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	fx.put("/apisix/routes/1", route("/v2"))
	fx.put("/apisix/routes/2", route("/two"))
	fx.put("/apisix/routes/3", `{"uri":"three"}`) // invalid: the reload keeps the loaded version
	rev := fx.put("/apisix/routes/1", route("/v3"))
	if _, err := fx.cli.Compact(context.Background(), rev); err != nil {
		t.Fatal(err)
	}
	fx.run()
	s := fx.next("the compacted changes", func(s *store.Snapshot) bool {
		return routeURI(s, "1") == "/v3" && routeURI(s, "2") == "/two" && routeURI(s, "3") == "/three"
	})
	fx.waitLog(`key=/apisix/routes/3`)
	fx.waitLog(`last_valid="revision 4 keeps serving"`)
	fx.waitLog("full reload from etcd")
	fx.waitLog("watch compacted")
	// The watch continues after the reload.
	fx.put("/apisix/routes/2", route("/two-b"))
	fx.next("a change after the reload", func(n *store.Snapshot) bool { return n.Version > s.Version && routeURI(n, "2") == "/two-b" })
}

// TestEtcdDown: with etcd gone the last snapshot stays, reachability says
// so (logged once), and the watch resumes when etcd is back.
func TestEtcdDown(t *testing.T) {
	fx := newFixture(t)
	fx.put("/apisix/upstreams/1", upstream1)
	fx.put("/apisix/routes/1", route("/v1"))
	first, err := fx.p.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fx.run()

	fx.etcd.Stop()
	fx.waitLog("etcd unreachable; the last configuration keeps serving")
	if fx.p.Reachable() || fx.p.Current() != first {
		t.Errorf("Reachable %v, current %p, want false and %p", fx.p.Reachable(), fx.p.Current(), first)
	}
	time.Sleep(500 * time.Millisecond) // several failed probes
	if n := strings.Count(fx.logs.String(), "etcd unreachable"); n != 1 {
		t.Errorf("unreachable logged %d times, want once", n)
	}
	stale := fx.p.LastContact()

	fx.etcd.Restart()
	deadline := time.Now().Add(15 * time.Second)
	for strings.Count(fx.logs.String(), `msg="etcd reachable"`) < 2 { // at Load, then now
		if time.Now().After(deadline) {
			t.Fatalf("reachability not logged again; logs:\n%s", fx.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	fx.put("/apisix/routes/1", route("/after"))
	fx.next("a change after etcd came back", func(s *store.Snapshot) bool { return routeURI(s, "1") == "/after" })
	if !fx.p.Reachable() || !fx.p.LastContact().After(stale) {
		t.Errorf("Reachable %v, LastContact %v (was %v)", fx.p.Reachable(), fx.p.LastContact(), stale)
	}
}

func TestStartupEtcdDown(t *testing.T) {
	srv := etcdtest.Start(t)
	endpoint := srv.Endpoint()
	srv.Stop()
	logs := &logbuf.Buffer{}
	p, err := New(mainFor(t, endpoint, 2), Options{
		Logger:         slog.New(slog.NewTextHandler(logs, nil)),
		StartupBackoff: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, err = p.Load(context.Background())
	if err == nil {
		t.Fatal("Load succeeded with etcd down")
	}
	want := "config.yaml: deployment.etcd: cannot load the configuration from etcd at " + endpoint + " after 3 attempt(s): "
	if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "raise deployment.etcd.startup_retry") {
		t.Errorf("error = %v", err)
	}
	if n := strings.Count(logs.String(), "etcd not reachable at start-up; retrying"); n != 2 {
		t.Errorf("%d retries logged, want 2:\n%s", n, logs)
	}

	// With retries left, a server that comes up in time is used.
	p2, err := New(mainFor(t, endpoint, 10), Options{StartupBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	go func() { time.Sleep(300 * time.Millisecond); srv.Restart() }()
	if _, err := p2.Load(context.Background()); err != nil {
		t.Errorf("Load with startup_retry: %v", err)
	}
}

// TestRevisionGoesBack: etcd restored from an older backup has a lower
// revision than the one applied; the provider notices (health check) and
// reloads, so it serves what etcd holds now rather than a future that no
// longer exists, and follows writes made after the restore.
func TestRevisionGoesBack(t *testing.T) {
	fx := newFixture(t)
	fx.put("/apisix/upstreams/1", upstream1)
	fx.put("/apisix/routes/1", route("/old"))
	backup := t.TempDir() + "/backup.db"
	fx.etcd.Snapshot(backup)
	if _, err := fx.p.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	fx.run()
	fx.put("/apisix/routes/1", route("/newer"))
	fx.put("/apisix/routes/2", route("/two"))
	fx.next("the writes after the backup", func(s *store.Snapshot) bool { return routeURI(s, "2") == "/two" })

	fx.etcd.Restore(backup)
	fx.next("the restored configuration", func(s *store.Snapshot) bool {
		return routeURI(s, "1") == "/old" && routeURI(s, "2") == ""
	})
	fx.waitLog("restored from a backup?")
	fx.put("/apisix/routes/3", route("/three"))
	fx.next("a write after the restore", func(s *store.Snapshot) bool { return routeURI(s, "3") == "/three" })
}
