package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/heimdallgw/heimdall/internal/testutil/fuzzseed"
)

// The fuzz targets below feed arbitrary bytes to the two decoders. Their
// seed corpora (testdata/fuzz/FuzzParseMain, testdata/fuzz/FuzzParseRoutes)
// are the shipped conf/ files, testdata/main.yaml and every broken case of
// testdata/bad; `go test` runs them as ordinary tests, scripts/fuzz.sh
// mutates them.

// fuzzBase is the config.yaml the apisix.yaml target decodes against: the
// plugins of testdata/main.yaml (heimdall, auth), as in TestBadGolden.
func fuzzBase(tb testing.TB) *Main {
	tb.Helper()
	m, err := LoadMain("testdata/main.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// checkErrors asserts what `heimdall validate` relies on: a failure is an
// Errors value, and each error names the file and a line inside it (or the
// line after its end, for a problem found at end of file) and, except for
// YAML syntax errors (yaml.v3 reports the line only), a column.
func checkErrors(t *testing.T, file string, data []byte, err error) {
	t.Helper()
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error is %T, want config.Errors: %v", err, err)
	}
	if len(es) == 0 {
		t.Fatal("empty Errors returned as a failure")
	}
	// YAML line breaks: \n, \r, \r\n, and (YAML 1.1, as in yaml.v3) NEL,
	// LS and PS; counting \r\n twice only loosens the bound.
	lines := 1
	for _, br := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029"} {
		lines += bytes.Count(data, []byte(br))
	}
	for _, e := range es {
		if e.File != file {
			t.Errorf("error names file %q, want %q: %v", e.File, file, e)
		}
		if e.Line < 1 || e.Line > lines+1 {
			t.Errorf("error has line %d (file has %d lines): %v", e.Line, lines, e)
		}
		syntax := strings.HasPrefix(e.Msg, "invalid YAML: ")
		if e.Column < 1 && !syntax {
			t.Errorf("error has no column: %v", e)
		}
		if e.Msg == "" {
			t.Errorf("error without a message: %#v", e)
		}
		if !strings.HasPrefix(e.Error(), file+":") {
			t.Errorf("message %q does not start with %s:", e.Error(), file)
		}
	}
}

func FuzzParseMain(f *testing.F) {
	const file = "/etc/heimdall/config.yaml"
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMain(file, data)
		if err != nil {
			if m != nil {
				t.Fatal("ParseMain returned a config with its error")
			}
			checkErrors(t, file, data, err)
			return
		}
		// A successful decode is a valid config: decoding it again gives
		// the same result, and the invariants the gateway relies on hold.
		again, err := ParseMain(file, data)
		if err != nil {
			t.Fatalf("second decode of an accepted file failed: %v", err)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("decoding is not deterministic:\n%+v\n%+v", m, again)
		}
		checkMain(t, m)
	})
}

func checkMain(t *testing.T, m *Main) {
	t.Helper()
	if len(m.APISIX.NodeListen) == 0 {
		t.Error("no listener")
	}
	for _, l := range append(append([]Listen(nil), m.APISIX.NodeListen...), m.APISIX.SSL.Listen...) {
		if l.Port < 1 || l.Port > 65535 {
			t.Errorf("listener port %d", l.Port)
		}
	}
	if m.Heimdall.APISIXYAML == "" || m.Heimdall.BodyBufferLimit <= 0 || m.Heimdall.MaxHeaderSize <= 0 ||
		m.Heimdall.MaxRequestBodySize < 0 || m.Heimdall.GracefulShutdownTimeout < 0 || m.Heimdall.InstancePoolSize < 0 {
		t.Errorf("heimdall section out of range: %+v", m.Heimdall)
	}
	seen := map[string]bool{}
	for _, p := range m.Wasm.Plugins {
		if p.Name == "" || p.File == "" || seen[p.Name] || isBuiltin(p.Name) {
			t.Errorf("plugin %+v: empty, duplicate or built-in name, or no file", p)
		}
		seen[p.Name] = true
		if p.Phase != PhaseAccess && p.Phase != PhaseRewrite {
			t.Errorf("plugin %s phase %q", p.Name, p.Phase)
		}
		if p.Body != BodyAlways && p.Body != BodyOnRequestProperty {
			t.Errorf("plugin %s body %q", p.Name, p.Body)
		}
		if p.PoolSize < 1 || p.CallTimeout < 0 || p.Line < 1 || p.Column < 1 {
			t.Errorf("plugin %s: pool %d, call_timeout %v, at %d:%d", p.Name, p.PoolSize, p.CallTimeout, p.Line, p.Column)
		}
		if n := p.Network; n != nil {
			for _, a := range n.Allow {
				if err := checkAllow(a); err != nil {
					t.Errorf("plugin %s: accepted allow entry %q fails its own check: %v", p.Name, a, err)
				}
			}
			if n.MaxSockets < 0 || n.Deadline < 0 || n.MaxBytes < 0 {
				t.Errorf("plugin %s: negative network limit %+v", p.Name, n)
			}
		}
	}
}

func FuzzParseRoutes(f *testing.F) {
	const file = "/etc/heimdall/apisix.yaml"
	m := fuzzBase(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRoutes(file, data, m)
		if err != nil {
			if r != nil {
				t.Fatal("ParseRoutes returned routes with its error")
			}
			checkErrors(t, file, data, err)
			if _, ok := hasEnd(data); !ok && !errors.Is(err, ErrIncomplete) {
				t.Errorf("a file without #END is not ErrIncomplete: %v", err)
			}
			return
		}
		again, err := ParseRoutes(file, data, m)
		if err != nil {
			t.Fatalf("second decode of an accepted file failed: %v", err)
		}
		if !reflect.DeepEqual(r, again) {
			t.Fatalf("decoding is not deterministic")
		}
		checkRoutes(t, r, m)
	})
}

// checkRoutes re-validates decoded routes: what the gateway builds from
// them without checking again.
func checkRoutes(t *testing.T, r *Routes, m *Main) {
	t.Helper()
	named := map[string]*Upstream{}
	for _, u := range r.Upstreams {
		if u.ID == "" || named[u.ID] != nil {
			t.Errorf("named upstream with empty or duplicate id %q", u.ID)
		}
		named[u.ID] = u
		checkUpstream(t, u)
	}
	ids := map[string]bool{}
	for _, rt := range r.Routes {
		if ids[rt.ID] {
			t.Errorf("duplicate route id %q", rt.ID)
		}
		ids[rt.ID] = true
		if len(rt.URIs) == 0 {
			t.Errorf("route %s has no uri", rt.ID)
		}
		for _, u := range rt.URIs {
			if !strings.HasPrefix(u, "/") {
				t.Errorf("route %s uri %q does not start with /", rt.ID, u)
			}
		}
		for _, meth := range rt.Methods {
			if meth != strings.ToUpper(meth) || meth == "" {
				t.Errorf("route %s method %q", rt.ID, meth)
			}
		}
		for _, h := range rt.Hosts {
			if h != strings.ToLower(h) || h == "" {
				t.Errorf("route %s host %q", rt.ID, h)
			}
		}
		if rt.Upstream == nil {
			t.Fatalf("route %s has no upstream", rt.ID)
		}
		if rt.UpstreamID != "" && named[rt.UpstreamID] != rt.Upstream {
			t.Errorf("route %s upstream_id %q does not point at the named upstream", rt.ID, rt.UpstreamID)
		}
		if rt.UpstreamID == "" {
			checkUpstream(t, rt.Upstream)
		}
		for i, w := range rt.Wasm {
			p, ok := m.Wasm.Plugin(w.Name)
			if !ok || p != w.Plugin {
				t.Errorf("route %s plugin %q is not the config.yaml declaration", rt.ID, w.Name)
			}
			if r.EnabledPlugins != nil && !contains(r.EnabledPlugins, w.Name) {
				t.Errorf("route %s uses plugin %q outside the plugins list", rt.ID, w.Name)
			}
			if i > 0 && rt.Wasm[i-1].Plugin.Priority < w.Plugin.Priority {
				t.Errorf("route %s plugins not in priority order", rt.ID)
			}
		}
		if pr := rt.ProxyRewrite; pr != nil {
			for _, re := range pr.RegexURI {
				if re.Regex == nil {
					t.Errorf("route %s regex_uri without a compiled regex", rt.ID)
				}
			}
		}
	}
}

func checkUpstream(t *testing.T, u *Upstream) {
	t.Helper()
	if len(u.Nodes) == 0 {
		t.Errorf("upstream %q has no nodes", u.ID)
	}
	for _, n := range u.Nodes {
		if n.Host == "" || n.Port < 1 || n.Port > 65535 || n.Weight < 0 {
			t.Errorf("upstream %q node %+v", u.ID, n)
		}
	}
	if u.Type != BalancerRoundRobin && u.Type != BalancerCHash {
		t.Errorf("upstream %q type %q", u.ID, u.Type)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		t.Errorf("upstream %q scheme %q", u.ID, u.Scheme)
	}
	if u.Timeout.Connect <= 0 || u.Timeout.Send <= 0 || u.Timeout.Read <= 0 {
		t.Errorf("upstream %q timeouts %+v", u.ID, u.Timeout)
	}
}

// TestFuzzSeeds keeps the seed corpora equal to the files they are built
// from: the shipped conf/, testdata/main.yaml and every broken case under
// testdata/bad (so a new golden case is fuzzed too).
func TestFuzzSeeds(t *testing.T) {
	for target, globs := range map[string][]string{
		"FuzzParseMain":   {"../../conf/config.yaml", "testdata/main.yaml", "testdata/bad/main_*.yaml"},
		"FuzzParseRoutes": {"../../conf/apisix.yaml", "testdata/bad/routes_*.yaml"},
	} {
		var seeds []fuzzseed.Seed
		for _, g := range globs {
			files, err := filepath.Glob(g)
			if err != nil || len(files) == 0 {
				t.Fatalf("no files match %s", g)
			}
			for _, file := range files {
				data, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				name := strings.TrimPrefix(filepath.ToSlash(file), "../../")
				seeds = append(seeds, fuzzseed.Seed{Name: name, Values: []any{data}})
			}
		}
		fuzzseed.Sync(t, target, seeds)
	}
}
