package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heimdallgw/heimdall/internal/testutil/gwtest"
	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

func runCmd(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

func TestCommands(t *testing.T) {
	// The demo config names build/plugins/heimdall.wasm (make plugins).
	demoPlugin := "../../build/plugins/heimdall.wasm"
	if _, err := os.Stat(demoPlugin); err != nil {
		built := wasmbuild.MustBuild(t, "plugins/heimdall")
		b, err := os.ReadFile(built)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(demoPlugin), 0o755)
		if err := os.WriteFile(demoPlugin, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name       string
		args       []string
		code       int
		out, errIn string
	}{
		{"version", []string{"version"}, 0, "heimdall ", ""},
		{"no command", nil, 2, "", "usage: heimdall"},
		{"unknown", []string{"serve"}, 2, "", `unknown command "serve"`},
		{"validate demo", []string{"validate", "-c", "../../conf/config.yaml"}, 0, "apisix.yaml: ok (1 routes, 1 upstreams)", ""},
		{"validate missing", []string{"validate", "-c", "nothere.yaml"}, 1, "", "nothere.yaml: cannot read file"},
		{"validate missing plugin file", []string{"validate", "-c", "testdata/missing-plugin/config.yaml"}, 1, "",
			"config.yaml:4:7: wasm.plugins[0].file: cannot read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCmd(tt.args...)
			if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errOut, tt.errIn) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tt.code, out, errOut)
			}
		})
	}
}

// TestValidateCompilesPlugins: a plugin file that exists but is not a
// proxy-wasm module fails validate (as it fails start-up), with the
// config.yaml entry, the plugin name and the file.
func TestValidateCompilesPlugins(t *testing.T) {
	dir := t.TempDir()
	plugin := filepath.Join(dir, "broken.wasm")
	os.WriteFile(plugin, []byte("not wasm at all"), 0o644)
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("heimdall:\n  wasm_cache_dir: \"off\"\nwasm:\n  plugins:\n    - name: broken\n      priority: 1\n      file: broken.wasm\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "apisix.yaml"), []byte("routes: []\n#END\n"), 0o644)
	code, out, errOut := runCmd("validate", "-c", filepath.Join(dir, "config.yaml"))
	want := filepath.Join(dir, "config.yaml") + ":5:7: wasm.plugins[0] broken: plugin file " + plugin + ": "
	if code != 1 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "invalid magic number") {
		t.Fatalf("exit %d, want 1 with %q\nstdout: %s\nstderr: %s", code, want, out, errOut)
	}
}

func TestValidateReportsEveryError(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("apisix:\n  node_listen: 9080\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "apisix.yaml"), []byte(`routes:
  - id: 1
    uri: /a/*
    upstream:
      type: rr
      nodes:
        "127.0.0.1:1": 1
  - id: 2
    uri: /b
    upstream_id: nope
#END
`), 0o644)
	code, _, errOut := runCmd("validate", "-c", filepath.Join(dir, "config.yaml"))
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr: %s", code, errOut)
	}
	for _, want := range []string{
		"apisix.yaml:5:13: routes[0].upstream.type: unknown balancer \"rr\"; allowed: roundrobin, chash",
		"apisix.yaml:10:18: routes[1].upstream_id:",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

// TestSIGTERMDrains runs the real binary: SIGTERM while a request is in
// flight lets it finish, then the process exits 0.
func TestSIGTERMDrains(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "heimdall")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "finished")
	}))
	defer slow.Close()

	port := gwtest.FreePort(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(fmt.Sprintf(
		"apisix:\n  node_listen: [{ip: 127.0.0.1, port: %d}]\nheimdall:\n  graceful_shutdown_timeout: 20s\n", port)), 0o644)
	os.WriteFile(filepath.Join(dir, "apisix.yaml"), []byte(fmt.Sprintf(
		"routes:\n  - id: 1\n    uri: /*\n    upstream:\n      nodes:\n        %q: 1\n#END\n", strings.TrimPrefix(slow.URL, "http://"))), 0o644)

	var stderr bytes.Buffer
	cmd := exec.Command(bin, "run", "-c", filepath.Join(dir, "config.yaml"))
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
	}()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway never listened on %s; stderr:\n%s", addr, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/work")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{code: resp.StatusCode, body: string(b)}
	}()
	<-arrived
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Stopped accepting, still draining.
	deadline = time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-exited:
		t.Fatalf("exited before the in-flight request finished: %v\n%s", err, stderr.String())
	default:
	}
	close(release)
	r := <-res
	if r.err != nil || r.code != 200 || r.body != "finished" {
		t.Fatalf("in-flight request: %d %q %v", r.code, r.body, r.err)
	}
	if err := <-exited; err != nil {
		t.Fatalf("exit: %v\nstderr:\n%s", err, stderr.String())
	}
}

func TestHTTPBinCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"httpbin", "--listen", "127.0.0.1:0"}, pw, io.Discard)
		pw.Close()
	}()
	line := make([]byte, 128)
	n, err := pr.Read(line)
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	url := strings.TrimSpace(strings.TrimPrefix(string(line[:n]), "httpbin listening on "))
	resp, err := http.Get(url + "/get")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"url"`) {
		t.Fatalf("GET /get: %d %s", resp.StatusCode, body)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("httpbin exit %d", code)
	}
}

// TestREADMEConfigValidates keeps the README's configuration examples true:
// its two yaml blocks (config.yaml, apisix.yaml) must validate.
func TestREADMEConfigValidates(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, part := range strings.Split(string(readme), "```yaml\n")[1:] {
		blocks = append(blocks, part[:strings.Index(part, "```")])
	}
	if len(blocks) < 2 {
		t.Fatalf("README has %d yaml blocks, want config.yaml and apisix.yaml", len(blocks))
	}
	dir := filepath.Join(t.TempDir(), "conf")
	// validate loads the plugins: the example's ../build/plugins/heimdall.wasm.
	built, err := os.ReadFile(wasmbuild.MustBuild(t, "plugins/heimdall"))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "..", "build", "plugins"), 0o755)
	os.WriteFile(filepath.Join(dir, "..", "build", "plugins", "heimdall.wasm"), built, 0o644)
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(blocks[0]), 0o644)
	os.WriteFile(filepath.Join(dir, "apisix.yaml"), []byte(blocks[1]), 0o644)
	if code, out, errOut := runCmd("validate", "-c", filepath.Join(dir, "config.yaml")); code != 0 {
		t.Fatalf("README examples do not validate (exit %d):\n%s%s", code, out, errOut)
	}
}
