// Command sidebyside is Heimdall's side-by-side benchmark (make bench): it
// runs the same load against a direct upstream, nginx proxy_pass and
// Heimdall in several configurations, interleaved, and writes a Markdown
// report to bench/results/<date>-<time>.md (plus the raw numbers as JSON).
//
// It builds nothing: bin/heimdall and build/plugins/*.wasm come from
// `make build plugins`, nginx and wrk from Debian (`make bench` installs them
// when missing). The load generator and the upstream are pinned to CPU 0, the
// system under test to CPU 1 with GOMAXPROCS=1 (nginx: worker_processes 1).
//
// Closed-loop throughput comes from wrk; latency percentiles from an
// open-loop run at a fixed rate (a fraction of the closed-loop maximum) by
// the generator in this program (`sidebyside openloop`), since wrk cannot
// hold a fixed rate. CPU per request is the system under test's utime+stime
// delta from /proc/<pid>/stat divided by the completed requests.
//
// Sub-commands used internally: `sidebyside upstream` (the upstream) and
// `sidebyside openloop` (the open-loop generator).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "upstream":
			return cmdUpstream(ctx, args[1:], stderr)
		case "openloop":
			return cmdOpenLoop(ctx, args[1:], stdout, stderr)
		}
	}
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := pinSelf(o.loadCPU); err != nil {
		fmt.Fprintf(stderr, "sidebyside: %v\n", err)
		return 1
	}
	if err := bench(ctx, o, stdout); err != nil {
		fmt.Fprintf(stderr, "sidebyside: %v\n", err)
		return 1
	}
	return 0
}

type options struct {
	duration, openDuration, warmup time.Duration
	rounds, conns, idleConns       int
	openFraction, openMaxRate      float64
	heimdallBin, pluginDir, outDir string
	loadCPU, sutCPU                string
	only                           string
	skipIdle, skipInstances, keep  bool
	note                           string
	profileBin, profileDir         string
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("sidebyside", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "closed-loop (wrk) run length")
	fs.DurationVar(&o.openDuration, "open-duration", 5*time.Second, "open-loop run length")
	fs.DurationVar(&o.warmup, "warmup", 3*time.Second, "warm-up wrk run per variant")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds over all variants")
	fs.IntVar(&o.conns, "conns", 64, "connections (wrk, open loop, nginx upstream keepalive)")
	fs.IntVar(&o.idleConns, "idle-conns", 2000, "idle keep-alive connections opened for the memory test")
	fs.Float64Var(&o.openFraction, "open-fraction", 0.5, "open-loop rate as a fraction of the closed-loop req/s")
	fs.Float64Var(&o.openMaxRate, "open-max-rate", 5000, "cap on the open-loop rate: the generator shares the load CPU with the upstream, and above this its own scheduling shows in the tail")
	fs.StringVar(&o.heimdallBin, "heimdall", "bin/heimdall", "gateway binary (make build)")
	fs.StringVar(&o.pluginDir, "plugins", "build/plugins", "plugin directory (make plugins)")
	fs.StringVar(&o.outDir, "out", "bench/results", "report directory")
	fs.StringVar(&o.loadCPU, "load-cpu", "0", "CPU for the load generator, the upstream and this harness")
	fs.StringVar(&o.sutCPU, "sut-cpu", "1", "CPU for the system under test")
	fs.StringVar(&o.only, "only", "", "comma-separated variant keys to run (default all; see -list)")
	fs.BoolVar(&o.skipIdle, "skip-idle", false, "skip the idle-connection memory test")
	fs.BoolVar(&o.skipInstances, "skip-instances", false, "skip the plugin-instance memory test")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (configs, logs)")
	fs.StringVar(&o.note, "note", "", "a note written at the top of the report (e.g. \"machine busy\")")
	fs.StringVar(&o.profileBin, "profile", "", "gateway binary with a pprof listener (bench/cmd/heimdall-pprof): profile the no-plugin and headers variants under wrk instead of benchmarking")
	fs.StringVar(&o.profileDir, "profile-out", "build/bench", "where -profile writes the CPU profiles")
	list := fs.Bool("list", false, "list the variant keys and exit")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *list {
		for _, v := range variantTable() {
			fmt.Fprintf(stderr, "%-22s %s, %s\n", v.key, v.workload, v.label)
		}
		return nil, flag.ErrHelp
	}
	if o.rounds < 1 || o.conns < 1 || o.duration < time.Second || o.openDuration < time.Second {
		fmt.Fprintln(stderr, "sidebyside: -rounds and -conns must be positive, durations at least 1s")
		return nil, errors.New("bad flags")
	}
	return o, nil
}

// pinSelf re-executes the harness pinned to cpu (with its children, such
// as wrk's parent shell, inheriting the mask) unless it already is.
func pinSelf(cpu string) error {
	if os.Getenv("SIDEBYSIDE_PINNED") != "" {
		return nil
	}
	ts, err := exec.LookPath("taskset")
	if err != nil {
		return errors.New("taskset not found (Debian package util-linux)")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	env := append(os.Environ(), "SIDEBYSIDE_PINNED=1", "GOMAXPROCS=1")
	return syscall.Exec(ts, append([]string{"taskset", "-c", cpu, self}, os.Args[1:]...), env)
}

// checkTools fails early with the install hint when a tool is missing.
func checkTools(o *options) error {
	var missing []string
	for _, t := range []string{"nginx", "wrk", "taskset", "getconf"} {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s: apt-get install -y nginx wrk (make bench does it as root)", strings.Join(missing, ", "))
	}
	need := []string{o.heimdallBin}
	for _, p := range []string{"heimdall", "headers", "jsonmask"} {
		need = append(need, filepath.Join(o.pluginDir, p+".wasm"))
	}
	if o.profileBin != "" {
		need = append(need, o.profileBin)
	}
	for _, f := range need {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("%s missing: run make build plugins first", f)
		}
	}
	if onlineCPUs() < 2 {
		return errors.New("needs 2 CPUs (load generator and system under test each on its own)")
	}
	return nil
}

// target is one running system under test.
type target struct {
	key     string // e.g. "nginx", "heimdall-none"
	label   string
	proc    *proc
	addr    string
	startup time.Duration // process start to first 200
}

// variant is one (target, workload) pair measured in every round.
type variant struct {
	key      string // target key + "/" + workload key
	target   string // target key
	label    string
	workload string // "GET 128 B", "POST 1 KiB JSON", ...
	wkey     string // "get", "post1k", "post64k"
	path     string
	script   string // wrk Lua script, "" for GET
	bodyFile string // open-loop POST body
	// conns overrides -conns for a variant so slow that 64 requests in
	// flight would leave seconds of queued work on the SUT CPU after wrk
	// stops (which the next measurement would pay for).
	conns int

	t      *target
	closed []closedRun
	open   []openRun
	rss    int64
	hwm    int64
}

type closedRun struct {
	wrkResult
	SUTCPU    float64 `json:"sut_cpu_s"`
	CPUPerReq float64 `json:"cpu_us_per_req"`
	Busy      float64 `json:"sut_busy"`  // SUT CPU / wall
	LoadBusy  float64 `json:"load_busy"` // (wrk + upstream + harness) CPU / wall, on the load CPU
	Foreign   float64 `json:"foreign"`   // share of the machine used by other processes
}

type openRun struct {
	openResult
	SUTCPU    float64 `json:"sut_cpu_s"`
	CPUPerReq float64 `json:"cpu_us_per_req"`
	LoadBusy  float64 `json:"load_busy"`
	Foreign   float64 `json:"foreign"`
}

// targetTable lists the systems under test; variantTable the variants.
func targetTable() []struct {
	key, label string
	spec       *heimdallSpec
} {
	return []struct {
		key, label string
		spec       *heimdallSpec
	}{
		{"direct", "upstream directly (fasthttp)", nil},
		{"nginx", "nginx proxy_pass", nil},
		{"none", "Heimdall, no plugin", &heimdallSpec{name: "none"}},
		{"none-accesslog", "Heimdall, no plugin, access log to a file", &heimdallSpec{name: "none-accesslog", accessLog: true}},
		{"heimdall-warn", "Heimdall + heimdall plugin, error log (file) at warn, access log (file)", &heimdallSpec{name: "heimdall-warn", plugin: "heimdall", conf: confHeimdall, errorLevel: "warn", accessLog: true}},
		{"heimdall-off", "Heimdall + heimdall plugin, logging off (access log off, error_log_level emerg)", &heimdallSpec{name: "heimdall-off", plugin: "heimdall", conf: confHeimdall, errorLevel: "emerg"}},
		{"headers", "Heimdall + headers plugin", &heimdallSpec{name: "headers", plugin: "headers", conf: confHeaders}},
		{"headers-trusted", "Heimdall + headers plugin, trusted (call_timeout: 0)", &heimdallSpec{name: "headers-trusted", plugin: "headers", conf: confHeaders, callTimeout: "0"}},
		{"jsonmask", "Heimdall + jsonmask plugin (buffers the response body)", &heimdallSpec{name: "jsonmask", plugin: "jsonmask", conf: confJSONMask}},
	}
}

func variantTable() []*variant {
	labels := map[string]string{}
	for _, t := range targetTable() {
		labels[t.key] = t.label
	}
	var vs []*variant
	add := func(target, wkey string) {
		w := map[string]string{"get": "GET, 128 B response", "post1k": "POST 1 KiB JSON, echoed", "post64k": "POST 64 KiB JSON, echoed"}[wkey]
		vs = append(vs, &variant{key: wkey + "/" + target, target: target, label: labels[target], workload: w, wkey: wkey})
	}
	for _, t := range []string{"direct", "nginx", "none", "none-accesslog", "heimdall-warn", "heimdall-off", "headers", "headers-trusted"} {
		add(t, "get")
	}
	for _, w := range []string{"post1k", "post64k"} {
		for _, t := range []string{"nginx", "none", "jsonmask"} {
			add(t, w)
		}
	}
	for _, v := range vs {
		if v.key == "post64k/jsonmask" { // ~0.15-0.4 s of CPU per request
			v.conns = 4
			v.label += " (4 connections)"
		}
	}
	return vs
}

// env is everything running during a benchmark.
type env struct {
	o        *options
	dir      string
	upstream *proc // backend upstream on the load CPU
	upAddr   string
	upPort   int
	targets  map[string]*target
	all      []*proc // every process started, for foreign-CPU accounting
	bodies   map[string]string
	scripts  map[string]string
}

func (e *env) stopAll() {
	for i := len(e.all) - 1; i >= 0; i-- {
		e.all[i].stop()
	}
}

func (e *env) ourCPU() float64 {
	var sum float64
	for _, p := range e.all {
		if !p.exited() {
			sum += p.cpu()
		}
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return sum + tv(ru.Utime) + tv(ru.Stime)
}

func bench(ctx context.Context, o *options, stdout io.Writer) (err error) {
	checkClkTck()
	if err := checkTools(o); err != nil {
		return err
	}
	o.heimdallBin, o.pluginDir, o.outDir = mustAbs(o.heimdallBin), mustAbs(o.pluginDir), mustAbs(o.outDir)
	if o.profileBin != "" {
		o.profileBin, o.profileDir = mustAbs(o.profileBin), mustAbs(o.profileDir)
	}
	dir, err := os.MkdirTemp("", "heimdall-bench-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	} else {
		fmt.Fprintf(stdout, "temporary directory: %s\n", dir)
	}
	e := &env{o: o, dir: dir, targets: map[string]*target{}, bodies: map[string]string{}, scripts: map[string]string{}}
	defer e.stopAll()

	for wkey, n := range map[string]int{"post1k": 1 << 10, "post64k": 64 << 10} {
		f := filepath.Join(dir, wkey+".json")
		s := filepath.Join(dir, wkey+".lua")
		if err := os.WriteFile(f, jsonBody(n), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(s, []byte(wrkPostScript(f)), 0o644); err != nil {
			return err
		}
		e.bodies[wkey], e.scripts[wkey] = f, s
	}

	if o.profileBin != "" {
		return profile(ctx, e, stdout)
	}

	started := time.Now()
	vs := selectVariants(o.only)
	if len(vs) == 0 {
		return fmt.Errorf("-only %q matches no variant (see -list)", o.only)
	}
	need := map[string]bool{}
	for _, v := range vs {
		need[v.target] = true
	}
	if err := e.startUpstream(ctx); err != nil {
		return err
	}
	for _, tt := range targetTable() {
		if !need[tt.key] {
			continue
		}
		fmt.Fprintf(stdout, "starting %s\n", tt.label)
		t, err := e.startTarget(ctx, tt.key, tt.label, tt.spec)
		if err != nil {
			return err
		}
		e.targets[tt.key] = t
	}
	for _, v := range vs {
		v.t = e.targets[v.target]
		v.path = "/"
		if v.wkey != "get" {
			v.path = "/echo"
			v.script, v.bodyFile = e.scripts[v.wkey], e.bodies[v.wkey]
		}
	}

	busy0, _ := systemBusy()
	our0 := e.ourCPU()
	wall0 := time.Now()

	fmt.Fprintf(stdout, "warm-up: %s per variant\n", o.warmup)
	for _, v := range vs {
		if v.conns == 0 {
			v.conns = o.conns
		}
		if _, err := runWrk(ctx, o.loadCPU, "http://"+v.t.addr+v.path, v.conns, max(o.warmup, time.Second), v.script); err != nil {
			return fmt.Errorf("warm-up %s: %w", v.key, err)
		}
	}
	for r := range o.rounds {
		fmt.Fprintf(stdout, "round %d/%d\n", r+1, o.rounds)
		// Rotate the order each round so that no variant always runs
		// right after the same neighbour.
		off := (r * len(vs)) / o.rounds
		for i := range vs {
			v := vs[(i+off)%len(vs)]
			cr, err := e.closedRun(ctx, v)
			if err != nil {
				return err
			}
			v.closed = append(v.closed, cr)
			or, err := e.openRun(ctx, v, max(1, min(o.openMaxRate, o.openFraction*cr.RPS)))
			if err != nil {
				return err
			}
			v.open = append(v.open, or)
			v.rss, v.hwm = v.t.proc.rss()
			fmt.Fprintf(stdout, "  %-22s %8.0f req/s  %6.2f µs/req  busy %3.0f%%  load %3.0f%%  other %2.0f%%  | open %6.0f/s p50 %6.0f p99 %6.0f p99.9 %7.0f µs  lag99 %5.0f\n",
				v.key, cr.RPS, cr.CPUPerReq, 100*cr.Busy, 100*cr.LoadBusy, 100*cr.Foreign,
				or.Rate, or.P50, or.P99, or.P999, or.LagP99)
		}
	}
	busy1, _ := systemBusy()
	our1 := e.ourCPU()
	wall := time.Since(wall0).Seconds()
	foreign := max(0, (busy1-busy0)-(our1-our0)) / (wall * float64(onlineCPUs()))

	rep := &report{When: started, Options: o, Variants: vs, Targets: e.targets, ForeignOverall: foreign}
	if !o.skipIdle {
		for _, k := range []string{"direct", "nginx", "none"} {
			t := e.targets[k]
			if t == nil {
				continue
			}
			ig, err := idleGrowth(ctx, t, o.idleConns)
			if err != nil {
				return fmt.Errorf("idle connections on %s: %w", k, err)
			}
			fmt.Fprintf(stdout, "idle: %-8s %d connections: RSS %+.1f MiB (%.1f KiB per connection)\n", k, ig.Conns, float64(ig.After-ig.Before)/(1<<20), float64(ig.After-ig.Before)/float64(ig.Conns)/1024)
			rep.Idle = append(rep.Idle, ig)
		}
	}
	if !o.skipInstances {
		for _, pl := range []struct{ name, conf string }{{"headers", confHeaders}, {"heimdall", confHeimdall}, {"jsonmask", confJSONMask}} {
			im, err := e.instanceMemory(ctx, pl.name, pl.conf)
			if err != nil {
				return fmt.Errorf("instance memory of %s: %w", pl.name, err)
			}
			fmt.Fprintf(stdout, "instances: %-8s %.2f MiB per instance\n", pl.name, im.PerInstance/(1<<20))
			rep.Instances = append(rep.Instances, im)
		}
	}
	rep.Elapsed = time.Since(started)
	e.stopAll()
	md, js, err := rep.write(o.outDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%s\nwrote %s and %s in %s\n", rep.summary(), md, js, rep.Elapsed.Round(time.Second))
	return nil
}

func selectVariants(only string) []*variant {
	all := variantTable()
	if only == "" {
		return all
	}
	want := map[string]bool{}
	for _, k := range strings.Split(only, ",") {
		want[strings.TrimSpace(k)] = true
	}
	var out []*variant
	for _, v := range all {
		if want[v.key] || want[v.target] || want[v.wkey] {
			out = append(out, v)
		}
	}
	return out
}

func (e *env) self() (string, error) { return os.Executable() }

func (e *env) startUpstream(ctx context.Context) error {
	self, err := e.self()
	if err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p, err := start("upstream", e.o.loadCPU, []string{self, "upstream", "-listen", addr}, e.dir, filepath.Join(e.dir, "upstream.log"))
	if err != nil {
		return err
	}
	e.all = append(e.all, p)
	if err := waitHTTP(ctx, p, addr, 10*time.Second); err != nil {
		return err
	}
	e.upstream, e.upAddr, e.upPort = p, addr, port
	return nil
}

// startTarget starts one system under test on the SUT CPU.
func (e *env) startTarget(ctx context.Context, key, label string, spec *heimdallSpec) (*target, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	dir := filepath.Join(e.dir, key)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var argv, extraEnv []string
	tree := false
	switch {
	case key == "direct":
		self, err := e.self()
		if err != nil {
			return nil, err
		}
		argv = []string{self, "upstream", "-listen", addr}
	case key == "nginx":
		for _, d := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				return nil, err
			}
		}
		conf := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(conf, []byte(nginxConf(dir, port, e.upPort, e.o.conns, os.Geteuid() == 0)), 0o644); err != nil {
			return nil, err
		}
		argv = []string{"nginx", "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", conf, "-g", "daemon off;"}
		tree = true
	default:
		bin := e.o.heimdallBin
		if spec.bin != "" {
			bin = spec.bin
		}
		extraEnv = spec.env
		cfg, err := writeHeimdallConf(dir, *spec, port, e.upPort, e.o.conns, e.o.pluginDir, filepath.Join(e.dir, "wasm-cache"))
		if err != nil {
			return nil, err
		}
		argv = []string{bin, "run", "-c", cfg}
	}
	t0 := time.Now()
	p, err := start(key, e.o.sutCPU, argv, dir, filepath.Join(dir, "process.log"), extraEnv...)
	if err != nil {
		return nil, err
	}
	p.tree = tree
	e.all = append(e.all, p)
	if err := waitHTTP(ctx, p, addr, 60*time.Second); err != nil {
		return nil, err
	}
	return &target{key: key, label: label, proc: p, addr: addr, startup: time.Since(t0)}, nil
}

// snapshot is the CPU state around one run.
type snapshot struct {
	sut, up, our, busy float64
	at                 time.Time
}

func (e *env) snap(t *target) snapshot {
	busy, _ := systemBusy()
	return snapshot{sut: t.proc.cpu(), up: e.upstream.cpu(), our: e.ourCPU(), busy: busy, at: time.Now()}
}

// deltas returns, between two snapshots: the SUT's CPU seconds, the load
// side's (upstream + generator, genCPU being the generator's own), the share
// of the machine used by processes the harness did not start, and the wall
// time.
func (e *env) deltas(a, b snapshot, genCPU float64) (sut, load, foreign, wall float64) {
	wall = b.at.Sub(a.at).Seconds()
	sut = b.sut - a.sut
	load = (b.up - a.up) + genCPU
	ours := (b.our - a.our) + genCPU
	foreign = max(0, (b.busy-a.busy)-ours) / (wall * float64(onlineCPUs()))
	return sut, load, foreign, wall
}

// waitIdle waits (at most 20 s) until the system under test has used less
// than 2 ms of CPU in 100 ms: a slow variant may still be working through
// requests the load generator gave up on, and that must not run on the SUT
// CPU during the next measurement.
func (e *env) waitIdle(ctx context.Context) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var before float64
		for _, t := range e.targets {
			before += t.proc.cpu()
		}
		time.Sleep(100 * time.Millisecond)
		var after float64
		for _, t := range e.targets {
			after += t.proc.cpu()
		}
		if after-before < 0.002 {
			return
		}
	}
}

func (e *env) closedRun(ctx context.Context, v *variant) (closedRun, error) {
	e.waitIdle(ctx)
	a := e.snap(v.t)
	w, err := runWrk(ctx, e.o.loadCPU, "http://"+v.t.addr+v.path, v.conns, e.o.duration, v.script)
	if err != nil {
		return closedRun{}, fmt.Errorf("%s: %w", v.key, err)
	}
	b := e.snap(v.t)
	if v.t.proc.exited() {
		return closedRun{}, fmt.Errorf("%s exited:\n%s", v.t.key, v.t.proc.tail())
	}
	sut, load, foreign, wall := e.deltas(a, b, w.CPUSeconds)
	r := closedRun{wrkResult: w, SUTCPU: sut, Busy: sut / wall, LoadBusy: load / wall, Foreign: foreign}
	if w.Requests > 0 {
		r.CPUPerReq = sut / float64(w.Requests) * 1e6
	}
	return r, nil
}

func (e *env) openRun(ctx context.Context, v *variant, rate float64) (openRun, error) {
	self, err := e.self()
	if err != nil {
		return openRun{}, err
	}
	// Enough connections that none waits at this rate unless the SUT
	// stalls (Little's law with a generous 10 ms per request), at most -conns.
	conns := min(v.conns, max(8, int(rate/100)))
	args := []string{"-c", e.o.loadCPU, self, "openloop", "-addr", v.t.addr, "-path", v.path,
		"-rate", strconv.FormatFloat(rate, 'f', 0, 64), "-duration", e.o.openDuration.String(),
		"-conns", strconv.Itoa(conns)}
	if v.bodyFile != "" {
		args = append(args, "-body", v.bodyFile)
	}
	e.waitIdle(ctx)
	a := e.snap(v.t)
	cmd := exec.CommandContext(ctx, "taskset", args...)
	// Two Ps on the one load CPU: the pacer's thread sleeps in nanosleep
	// while holding one (see openLoop).
	cmd.Env = append(os.Environ(), "GOMAXPROCS=2")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return openRun{}, fmt.Errorf("open loop %s: %w\n%s", v.key, err, stderr.String())
	}
	b := e.snap(v.t)
	var r openRun
	if err := jsonUnmarshal(out, &r.openResult); err != nil {
		return openRun{}, fmt.Errorf("open loop %s: %w: %s", v.key, err, out)
	}
	gen := 0.0
	if st := cmd.ProcessState; st != nil {
		gen = (st.UserTime() + st.SystemTime()).Seconds()
	}
	sut, load, foreign, wall := e.deltas(a, b, gen)
	r.SUTCPU, r.LoadBusy, r.Foreign = sut, load/wall, foreign
	if n := r.OK + r.Non2xx; n > 0 {
		r.CPUPerReq = sut / float64(n) * 1e6
	}
	return r, nil
}

// median of xs (0 for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
