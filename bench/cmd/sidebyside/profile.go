package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// profile runs the gateway built with a pprof listener (heimdall-pprof)
// under wrk load (GET with no plugin, the headers plugin and the heimdall
// plugin; 64 KiB POSTs with no plugin) and saves a CPU profile of each plus
// its `go tool pprof -top` text.
func profile(ctx context.Context, e *env, stdout io.Writer) error {
	o := e.o
	if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
		return err
	}
	if err := e.startUpstream(ctx); err != nil {
		return err
	}
	secs := max(int(o.duration.Seconds()), 5)
	for _, pr := range []struct {
		spec heimdallSpec
		wkey string // "" = GET
	}{
		{heimdallSpec{name: "none"}, ""},
		{heimdallSpec{name: "headers", plugin: "headers", conf: confHeaders}, ""},
		{heimdallSpec{name: "heimdall-warn", plugin: "heimdall", conf: confHeimdall, errorLevel: "warn", accessLog: true}, ""},
		{heimdallSpec{name: "none-post64k"}, "post64k"},
	} {
		spec, path, script := pr.spec, "/", ""
		if pr.wkey != "" {
			path, script = "/echo", e.scripts[pr.wkey]
		}
		port, err := freePort()
		if err != nil {
			return err
		}
		pprofAddr := "127.0.0.1:" + strconv.Itoa(port)
		spec.bin = o.profileBin
		spec.env = []string{"HEIMDALL_PPROF=" + pprofAddr}
		t, err := e.startTarget(ctx, "profile-"+spec.name, spec.name, &spec)
		if err != nil {
			return err
		}
		// Warm up, then profile the middle of a longer wrk run.
		if _, err := runWrk(ctx, o.loadCPU, "http://"+t.addr+path, o.conns, 2*time.Second, script); err != nil {
			return err
		}
		done := make(chan error, 1)
		go func() {
			_, err := runWrk(ctx, o.loadCPU, "http://"+t.addr+path, o.conns, time.Duration(secs+2)*time.Second, script)
			done <- err
		}()
		time.Sleep(time.Second)
		file := filepath.Join(o.profileDir, "cpu-"+spec.name+".pprof")
		if err := fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofAddr, secs), file); err != nil {
			return err
		}
		if err := <-done; err != nil {
			return err
		}
		t.proc.stop()
		top, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=45", file).CombinedOutput()
		if err != nil {
			return fmt.Errorf("go tool pprof: %w\n%s", err, top)
		}
		cum, _ := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-cum", "-nodecount=60", file).CombinedOutput()
		txt := filepath.Join(o.profileDir, "cpu-"+spec.name+".txt")
		if err := os.WriteFile(txt, append(append(top, "\n--- by cumulative ---\n"...), cum...), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "== %s: %s (%s)\n%s\n", spec.name, file, txt, top)
	}
	return nil
}

func fetch(ctx context.Context, url, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
