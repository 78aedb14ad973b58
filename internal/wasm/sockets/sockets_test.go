package sockets

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/heimdallgw/heimdall/internal/egress"
	"github.com/heimdallgw/heimdall/internal/testutil/logbuf"
	"github.com/heimdallgw/heimdall/internal/testutil/redistest"
)

// guestWasm builds testdata/guest once per test binary.
var guestWasm = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "sockets-guest")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "guest.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "./testdata/guest")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building test guest: %v\n%s", err, b)
	}
	return os.ReadFile(out)
})

var compileCache = wazero.NewCompilationCache()

type result struct {
	stdout string
	log    string
}

// runGuest runs the guest's run export with env under the given options.
func runGuest(t *testing.T, opts Options, env ...string) result {
	t.Helper()
	wasm, err := guestWasm()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var logBuf logbuf.Buffer
	opts.Plugin = "test-plugin"
	opts.Logger = slog.New(slog.NewTextHandler(&logBuf, nil))
	ext, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(compileCache).WithCloseOnContextDone(true))
	defer rt.Close(ctx)
	cm, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	var imports []api.FunctionDefinition
	for _, def := range cm.ImportedFunctions() {
		if m, _, _ := def.Import(); m == wasi_snapshot_preview1.ModuleName {
			imports = append(imports, def)
		}
	}
	b := rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	if err := ext.Export(wasi_snapshot_preview1.ModuleName, b, imports); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cfg := wazero.NewModuleConfig().WithStdout(&stdout).WithStderr(&stdout).
		WithSysNanosleep().WithSysNanotime().WithSysWalltime().WithStartFunctions("_initialize")
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		cfg = cfg.WithEnv(k, v)
	}
	mod, err := rt.InstantiateModule(ctx, cm, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mod.ExportedFunction("run").Call(ctx); err != nil {
		t.Fatalf("run: %v\nstdout:\n%s", err, stdout.String())
	}
	ext.InstanceClosed(mod)
	if n := ext.OpenSockets(mod); n != 0 {
		t.Errorf("%d sockets left open after InstanceClosed", n)
	}
	return result{stdout: stdout.String(), log: logBuf.String()}
}

var loopbackOnly = Policy{Allow: []string{"127.0.0.1/32"}, DNS: true, Deadline: 5 * time.Second}

func TestHTTPGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Test", "yes")
		io.WriteString(w, "hello from the upstream")
	}))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	for _, host := range []string{"127.0.0.1", "localhost"} {
		t.Run(host, func(t *testing.T) {
			r := runGuest(t, Options{Policy: loopbackOnly}, "MODE=http", "URL=http://"+host+":"+port+"/get")
			for _, want := range []string{"Status: 200 OK\n", "Content-Type: text/plain\n", "X-Test: yes\n", "Content-Length: 23\n", "hello from the upstream\n"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, r.stdout)
				}
			}
		})
	}
}

func TestRedis(t *testing.T) {
	addr := redistest.Addr(t)
	r := runGuest(t, Options{Policy: loopbackOnly}, "MODE=redis", "ADDR="+addr)
	if !strings.Contains(r.stdout, "redis key value: foobar\n") {
		t.Fatalf("output:\n%s\nlog:\n%s", r.stdout, r.log)
	}
}

// silentServer accepts connections and never answers.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, c)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

func TestRefusals(t *testing.T) {
	addr := silentServer(t)
	port, _ := strconv.Atoi(addr[strings.LastIndex(addr, ":")+1:])
	tests := []struct {
		name   string
		opts   Options
		env    []string
		stdout string // substring of the guest's output
		log    string // substring of the refusal log line ("" = no refusal)
	}{
		{"no policy", Options{}, []string{"MODE=dial", "ADDR=" + addr}, "ermission denied", "plugin=test-plugin op=sock_connect destination=" + addr + " reason=\"no network policy\""},
		{"loopback by default", Options{Policy: Policy{Allow: []string{"0.0.0.0/0"}}}, []string{"MODE=dial", "ADDR=" + addr},
			"ermission denied", "destination=" + addr + " reason=\"loopback address not explicitly allowed\""},
		{"denied destination", Options{Policy: Policy{Allow: []string{"127.0.0.2/32"}}}, []string{"MODE=dial", "ADDR=" + addr},
			"ermission denied", "plugin=test-plugin op=sock_connect destination=" + addr},
		{"wrong port", Options{Policy: Policy{Allow: []string{"127.0.0.1/32:1"}}}, []string{"MODE=dial", "ADDR=" + addr},
			"ermission denied", "destination=" + addr + " reason=\"port not in allow list\""},
		{"name resolving to a denied address", Options{Policy: Policy{Allow: []string{"10.0.0.0/8"}, DNS: true}}, []string{"MODE=lookup", "HOST=localhost"},
			"error: lookup localhost: Permission denied", "op=sock_getaddrinfo destination=\"localhost (127.0.0.1"},
		{"dial by name resolving to a denied address", Options{Policy: Policy{Allow: []string{"localhost"}, DNS: true}}, []string{"MODE=dial", "ADDR=localhost:" + strconv.Itoa(port)},
			"ermission denied", "loopback address not explicitly allowed"},
		{"dns not allowed", Options{Policy: Policy{Allow: []string{"127.0.0.1/32"}}}, []string{"MODE=lookup", "HOST=localhost"},
			"ermission denied", "reason=\"dns not allowed\""},
		{"gateway port", Options{Policy: loopbackOnly, Reserved: []netip.AddrPort{netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(port))}},
			[]string{"MODE=dial", "ADDR=" + addr}, "ermission denied", "gateway port not explicitly allowed"},
		{"gateway port listed", Options{Policy: Policy{Allow: []string{"127.0.0.1/32:" + strconv.Itoa(port)}}, Reserved: []netip.AddrPort{netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(port))}},
			[]string{"MODE=dial", "ADDR=" + addr}, "ok\n", ""},
		{"explicit loopback", Options{Policy: Policy{Allow: []string{"127.0.0.0/8:" + strconv.Itoa(port)}}}, []string{"MODE=dial", "ADDR=" + addr}, "ok\n", ""},
		{"name resolving to an allowed address", Options{Policy: loopbackOnly}, []string{"MODE=lookup", "HOST=localhost"}, "addrs: 127.0.0.1\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runGuest(t, tt.opts, tt.env...)
			if !strings.Contains(r.stdout, tt.stdout) {
				t.Errorf("output %q lacks %q", r.stdout, tt.stdout)
			}
			if tt.log == "" {
				if strings.Contains(r.log, "refused") {
					t.Errorf("unexpected refusal: %s", r.log)
				}
			} else if !strings.Contains(r.log, "plugin network access refused") || !strings.Contains(r.log, tt.log) {
				t.Errorf("log %q lacks %q", r.log, tt.log)
			}
		})
	}
}

func TestDeadline(t *testing.T) {
	addr := silentServer(t)
	t.Run("policy", func(t *testing.T) {
		start := time.Now()
		r := runGuest(t, Options{Policy: Policy{Allow: []string{"127.0.0.1/32"}, Deadline: 300 * time.Millisecond}}, "MODE=read", "ADDR="+addr)
		if el := time.Since(start); el > 10*time.Second {
			t.Errorf("took %v", el)
		}
		if !strings.Contains(r.stdout, "onnection timed out") || !strings.Contains(r.log, "deadline 300ms exceeded") {
			t.Errorf("output %q log %q", r.stdout, r.log)
		}
	})
	t.Run("guest", func(t *testing.T) {
		r := runGuest(t, Options{Policy: Policy{Allow: []string{"127.0.0.1/32"}}}, "MODE=read", "ADDR="+addr, "DEADLINE=200ms")
		if !strings.Contains(r.stdout, "i/o timeout") {
			t.Errorf("output %q", r.stdout)
		}
	})
}

func TestMaxSockets(t *testing.T) {
	addr := silentServer(t)
	pol := Policy{Allow: []string{"127.0.0.1/32"}, MaxSockets: 2}
	r := runGuest(t, Options{Policy: pol}, "MODE=sockets", "N=3", "ADDR="+addr)
	if !strings.Contains(r.stdout, "dial 3 error:") || !strings.Contains(r.stdout, "oo many open files") || !strings.Contains(r.log, "max_sockets 2 reached") {
		t.Errorf("output %q log %q", r.stdout, r.log)
	}
	r = runGuest(t, Options{Policy: pol}, "MODE=sockets", "N=2", "ADDR="+addr)
	if r.stdout != "ok\n" {
		t.Errorf("2 sockets: %q", r.stdout)
	}
}

func TestMaxBytes(t *testing.T) {
	addr := silentServer(t)
	r := runGuest(t, Options{Policy: Policy{Allow: []string{"127.0.0.1/32"}, MaxBytes: 1000}}, "MODE=bytes", "N=5000", "ADDR="+addr)
	if !strings.Contains(r.stdout, "wrote 1000 error:") || !strings.Contains(r.stdout, "uota exceeded") || !strings.Contains(r.log, "max_bytes 1000 sent") {
		t.Errorf("output %q log %q", r.stdout, r.log)
	}
}

func TestNonBlockingAndStdio(t *testing.T) {
	r := runGuest(t, Options{Policy: loopbackOnly}, "MODE=raw")
	if r.stdout != "stdout works\nraw ok: ping pong\n" {
		t.Errorf("output %q log %q", r.stdout, r.log)
	}
}

func TestExportRejectsUnknownSignature(t *testing.T) {
	ctx := context.Background()
	ext, err := New(ctx, Options{Plugin: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if len(names()) < 30 {
		t.Errorf("only %d functions", len(names()))
	}
	// A module importing sock_accept with 4 parameters.
	wasm := []byte{
		0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
		0x01, 0x09, 0x01, 0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x01, 0x7f,
		0x02, 0x26, 0x01,
		0x16, 'w', 'a', 's', 'i', '_', 's', 'n', 'a', 'p', 's', 'h', 'o', 't', '_', 'p', 'r', 'e', 'v', 'i', 'e', 'w', '1',
		0x0b, 's', 'o', 'c', 'k', '_', 'a', 'c', 'c', 'e', 'p', 't', 0x00, 0x00,
	}
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	cm, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	err = ext.Export(wasi_snapshot_preview1.ModuleName, rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName), cm.ImportedFunctions())
	if err == nil || !strings.Contains(err.Error(), "sock_accept has 4 parameters; supported: 2 or 3") {
		t.Fatalf("err = %v", err)
	}
}

// TestSharedEgress: with the plugin's egress.Checker (as the gateway wires
// it) and no policy, the guest reaches neither a real loopback listener nor
// the metadata address (EACCES before any connection: the listener accepts
// nothing); the refusals are logged once per destination by the checker
// and counted under sock_connect, beside the plugin's other ways out.
func TestSharedEgress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	var lb logbuf.Buffer
	eg, err := egress.New(egress.Config{Plugin: "test-plugin", Logger: slog.New(slog.NewTextHandler(&lb, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), Options{Egress: eg, Policy: Policy{Allow: []string{"127.0.0.1/32"}}}); err == nil {
		t.Fatal("New accepted both Egress and Policy.Allow")
	}
	for _, addr := range []string{ln.Addr().String(), ln.Addr().String(), "169.254.169.254:80"} {
		r := runGuest(t, Options{Egress: eg, Policy: Policy{Deadline: 5 * time.Second}}, "MODE=dial", "ADDR="+addr)
		if !strings.Contains(r.stdout, "ermission denied") {
			t.Fatalf("dial %s: output %q", addr, r.stdout)
		}
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("the listener accepted %d connections", n)
	}
	if got := eg.Refusals()["sock_connect"]; got != 3 {
		t.Fatalf("Refusals[sock_connect] = %d, want 3", got)
	}
	l := lb.String()
	if n := strings.Count(l, "op=sock_connect destination="+ln.Addr().String()+` reason="no network policy"`); n != 1 {
		t.Fatalf("%d lines for the loopback listener, want 1:\n%s", n, l)
	}
	if !strings.Contains(l, `op=sock_connect destination=169.254.169.254:80 reason="no network policy"`) {
		t.Fatalf("no line for the metadata address:\n%s", l)
	}
}
