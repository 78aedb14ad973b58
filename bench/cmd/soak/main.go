// Command soak runs the real bin/heimdall as a separate process for a long
// time under mixed traffic, with one plugin failing on a share of its
// requests, and reports whether the gateway's RSS, goroutines and open fds
// stay flat (issue 16). It is a benchmark, not a test: it asserts nothing,
// it writes a markdown report.
//
//	go run ./bench/cmd/soak -duration 10m -rate 500
//
// The gateway, its fasthttp upstream (in this process) and the load are all
// on 127.0.0.1. See BENCHMARKS.md, "Soak".
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
	"github.com/valyala/fasthttp"
)

type options struct {
	duration, warmup, sample time.Duration
	rate                     int
	inflight                 int
	out, bin, plugins        string
	tolerance                float64
	dump                     bool
	settle                   time.Duration
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "how long to send traffic")
	flag.DurationVar(&o.warmup, "warmup", 0, "baseline sample taken this long after start (0 = duration/10, at least 10s)")
	flag.DurationVar(&o.sample, "sample", 5*time.Second, "sampling interval")
	flag.IntVar(&o.rate, "rate", 500, "requests per second (open loop)")
	flag.IntVar(&o.inflight, "inflight", 512, "most requests in flight; a tick finding them all busy is counted as dropped")
	flag.StringVar(&o.out, "out", "", "report path (default bench/results/soak-<date>.md)")
	flag.StringVar(&o.bin, "bin", "bin/heimdall", "gateway binary (make build)")
	flag.StringVar(&o.plugins, "plugins", "build/plugins", "bundled plugins (make plugins)")
	flag.Float64Var(&o.tolerance, "tolerance", 0.10, "flat: end within this share of the after-warm-up value (plus a small absolute slack)")
	flag.DurationVar(&o.settle, "settle", 15*time.Second, "after the load, wait this long for the idle sample")
	flag.BoolVar(&o.dump, "dump", true, "at the end, SIGQUIT the gateway and add its goroutines, grouped by stack, to the report")
	flag.Parse()
	if o.warmup == 0 {
		o.warmup = max(o.duration/10, 10*time.Second)
	}
	if o.out == "" {
		o.out = filepath.Join("bench", "results", "soak-"+time.Now().UTC().Format("2006-01-02")+".md")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func run(ctx context.Context, o options) error {
	for _, p := range []string{o.bin, filepath.Join(o.plugins, "headers.wasm"), filepath.Join(o.plugins, "heimdall.wasm"), filepath.Join(o.plugins, "jsonmask.wasm")} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%v (run `make build plugins` first)", err)
		}
	}
	misbehave, err := wasmbuild.Build("internal/wasm/host/testdata/misbehave")
	if err != nil {
		return fmt.Errorf("building the misbehave plugin: %w", err)
	}
	dir, err := os.MkdirTemp("", "heimdall-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// Upstream: GET answers a small body, POST echoes (application/json).
	uln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	body := []byte(strings.Repeat("0123456789abcdef", 8))
	up := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) {
		if c.IsPost() {
			c.SetContentType("application/json")
			c.SetBody(c.PostBody())
			return
		}
		c.SetContentType("text/plain")
		c.SetBody(body)
	}, MaxRequestBodySize: 16 << 20}
	go up.Serve(uln)
	defer up.Shutdown()

	gwPort, err := freePort()
	if err != nil {
		return err
	}
	metricsPort, err := freePort()
	if err != nil {
		return err
	}
	cfg, err := writeConf(dir, gwPort, metricsPort, uln.Addr().(*net.TCPAddr).Port, o.plugins, misbehave)
	if err != nil {
		return err
	}
	bin, _ := filepath.Abs(o.bin)
	logPath := filepath.Join(dir, "gateway.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "run", "-c", cfg)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
			}
		}
	}()
	addr := fmt.Sprintf("127.0.0.1:%d", gwPort)
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/apisix/prometheus/metrics", metricsPort)
	if err := waitReady(addr, metricsURL, exited, 60*time.Second); err != nil {
		return fmt.Errorf("%w; gateway log:\n%s", err, tail(logPath))
	}
	pid := cmd.Process.Pid
	fmt.Fprintf(os.Stderr, "soak: gateway pid %d on %s, metrics %s, %s at %d req/s\n", pid, addr, metricsURL, o.duration, o.rate)

	st := newStats()
	var samples []sample
	var smu sync.Mutex
	take := func(at time.Duration) {
		s := takeSample(pid, metricsURL, at)
		smu.Lock()
		samples = append(samples, s)
		smu.Unlock()
	}
	take(0)
	start := time.Now()
	lctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); load(lctx, o, addr, st) }()
	tk := time.NewTicker(o.sample)
	var crashed error
loop:
	for {
		select {
		case <-lctx.Done():
			break loop
		case err := <-exited:
			crashed = fmt.Errorf("gateway exited during the soak: %v", err)
			cancel()
			break loop
		case <-tk.C:
			take(time.Since(start))
		}
	}
	tk.Stop()
	wg.Wait()
	st.elapsed = time.Since(start)
	// The end sample is the last one under load (compared with the one
	// after warm-up, also under load). Then the idle sample: load stopped,
	// its connections closed, and fasthttp's idle workers (kept 10 s) and
	// idle upstream connections expired.
	var idle *sample
	if crashed == nil {
		take(time.Since(start))
		select {
		case <-ctx.Done():
		case <-time.After(o.settle):
		}
		s := takeSample(pid, metricsURL, time.Since(start))
		idle = &s
	}
	var dump string
	if crashed == nil && o.dump {
		dump = goroutineDump(cmd, exited, logPath)
	}
	rep := report(o, samples, idle, st, crashed, tail(logPath)) + dump
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(o.out, []byte(rep), 0o644); err != nil {
		return err
	}
	fmt.Print(rep)
	fmt.Fprintf(os.Stderr, "soak: report written to %s\n", o.out)
	if crashed != nil {
		return crashed
	}
	return nil
}

func waitReady(addr, metricsURL string, exited chan error, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("gateway exited at start: %v", err)
		default:
		}
		r, err := http.Get("http://" + addr + "/plain/ready")
		if err == nil {
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
			if r.StatusCode == 200 {
				if m, err := http.Get(metricsURL); err == nil {
					m.Body.Close()
					if m.StatusCode == 200 {
						return nil
					}
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("gateway not ready on %s after %s", addr, d)
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	for i, l := range lines {
		if len(l) > 300 {
			lines[i] = l[:300] + "…"
		}
	}
	return strings.Join(lines, "\n")
}

// readMetrics fetches the Prometheus text and sums each metric name's
// samples over their labels (the report wants totals).
func readMetrics(url string) map[string]float64 {
	out := map[string]float64{}
	c := http.Client{Timeout: 5 * time.Second}
	r, err := c.Get(url)
	if err != nil {
		return out
	}
	defer r.Body.Close()
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(l, ' ')
		if sp < 0 {
			continue
		}
		name := l[:sp]
		if i := strings.IndexByte(name, '{'); i >= 0 {
			// Keep the plugin label of heimdall_wasm_* series,
			// and the state label of the connection gauge.
			for _, lb := range []string{"plugin", "state"} {
				if p := labelValue(name[i:], lb); p != "" {
					v, _ := strconv.ParseFloat(l[sp+1:], 64)
					out[name[:i]+"{"+p+"}"] += v
				}
			}
			name = name[:i]
		}
		v, err := strconv.ParseFloat(l[sp+1:], 64)
		if err != nil {
			continue
		}
		out[name] += v
	}
	return out
}

func labelValue(labels, key string) string {
	i := strings.Index(labels, key+`="`)
	if i < 0 {
		return ""
	}
	rest := labels[i+len(key)+2:]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return rest[:j]
}

// goroutineDump ends the gateway with SIGQUIT (the Go runtime prints every
// goroutine's stack and exits) and returns the goroutines grouped by the
// first frame outside the runtime, most first, as a markdown section.
func goroutineDump(cmd *exec.Cmd, exited chan error, logPath string) string {
	_ = cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		return "\n(no goroutine dump: the gateway did not exit on SIGQUIT)\n"
	}
	b, _ := os.ReadFile(logPath)
	counts := map[string]int{}
	total := 0
	for _, g := range strings.Split(string(b), "\n\ngoroutine ")[1:] {
		lines := strings.Split(g, "\n")
		frame := "?"
		for i := 1; i+1 < len(lines); i += 2 {
			f := lines[i]
			if strings.HasPrefix(f, "runtime.") || strings.HasPrefix(f, "internal/") || strings.HasPrefix(f, "sync.") {
				continue
			}
			if j := strings.LastIndexByte(f, '('); j > 0 {
				f = f[:j]
			}
			frame = f
			break
		}
		state := ""
		if i, j := strings.IndexByte(lines[0], '['), strings.IndexByte(lines[0], ']'); i >= 0 && j > i {
			state = strings.SplitN(lines[0][i+1:j], ",", 2)[0]
		}
		counts[frame+" ["+state+"]"]++
		total++
	}
	type kv struct {
		k string
		n int
	}
	var l []kv
	for k, n := range counts {
		l = append(l, kv{k, n})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].n > l[j].n || l[i].n == l[j].n && l[i].k < l[j].k })
	var out strings.Builder
	fmt.Fprintf(&out, "\n<details><summary>gateway goroutines at the end (%d, SIGQUIT dump, by first non-runtime frame)</summary>\n\n| n | frame [state] |\n|---:|---|\n", total)
	for _, e := range l {
		fmt.Fprintf(&out, "| %d | `%s` |\n", e.n, e.k)
	}
	out.WriteString("\n</details>\n")
	return out.String()
}
