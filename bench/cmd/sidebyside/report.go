package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

type report struct {
	When           time.Time
	Options        *options
	Variants       []*variant
	Targets        map[string]*target
	ForeignOverall float64
	Idle           []idleResult
	Instances      []instResult
	Elapsed        time.Duration
}

// agg is one variant summarised over its rounds.
type agg struct {
	Key        string  `json:"key"`
	Workload   string  `json:"workload"`
	Label      string  `json:"label"`
	RPS        float64 `json:"rps"`
	CPU        float64 `json:"cpu_us_per_req"`
	CPUMin     float64 `json:"cpu_us_per_req_min"`
	CPUMax     float64 `json:"cpu_us_per_req_max"`
	Busy       float64 `json:"sut_busy"`
	LoadBusy   float64 `json:"load_busy_max"`
	Foreign    float64 `json:"foreign_max"`
	Errors     int64   `json:"errors"`
	OpenRate   float64 `json:"open_rate"`
	P50        float64 `json:"p50_us"`
	P99        float64 `json:"p99_us"`
	P999       float64 `json:"p999_us"`
	LagP99     float64 `json:"open_lag_p99_us"`
	OpenCPU    float64 `json:"open_cpu_us_per_req"`
	OpenLoad   float64 `json:"open_load_busy_max"`
	RSS        int64   `json:"rss"`
	HWM        int64   `json:"rss_peak"`
	VsNginx    float64 `json:"cpu_vs_nginx,omitempty"`
	VsNone     float64 `json:"cpu_vs_no_plugin,omitempty"`
	RPSVsNginx float64 `json:"rps_vs_nginx,omitempty"`

	Closed []closedRun `json:"closed_runs"`
	Open   []openRun   `json:"open_runs"`
}

func summarise(v *variant) *agg {
	a := &agg{Key: v.key, Workload: v.workload, Label: v.label, RSS: v.rss, HWM: v.hwm, Closed: v.closed, Open: v.open}
	var rps, cpu, busy, rate, p50, p99, p999, lag, ocpu []float64
	for _, r := range v.closed {
		rps = append(rps, r.RPS)
		cpu = append(cpu, r.CPUPerReq)
		busy = append(busy, r.Busy)
		a.LoadBusy = max(a.LoadBusy, r.LoadBusy)
		a.Foreign = max(a.Foreign, r.Foreign)
		a.Errors += r.Non2xx + r.SockErrors
	}
	for _, r := range v.open {
		rate = append(rate, r.Rate)
		p50 = append(p50, r.P50)
		p99 = append(p99, r.P99)
		p999 = append(p999, r.P999)
		ocpu = append(ocpu, r.CPUPerReq)
		lag = append(lag, r.LagP99)
		a.OpenLoad = max(a.OpenLoad, r.LoadBusy)
		a.Foreign = max(a.Foreign, r.Foreign)
		a.Errors += int64(r.Non2xx + r.Errors)
	}
	a.RPS, a.CPU, a.Busy = median(rps), median(cpu), median(busy)
	if len(cpu) > 0 {
		a.CPUMin, a.CPUMax = slices.Min(cpu), slices.Max(cpu)
	}
	a.OpenRate, a.P50, a.P99, a.P999, a.LagP99, a.OpenCPU = median(rate), median(p50), median(p99), median(p999), median(lag), median(ocpu)
	return a
}

func (r *report) aggs() []*agg {
	by := map[string]*agg{}
	var out []*agg
	for _, v := range r.Variants {
		a := summarise(v)
		by[v.key] = a
		out = append(out, a)
	}
	for _, v := range r.Variants {
		a := by[v.key]
		if n := by[v.wkey+"/nginx"]; n != nil && n.CPU > 0 {
			a.VsNginx = a.CPU / n.CPU
			a.RPSVsNginx = a.RPS / n.RPS
		}
		if n := by[v.wkey+"/none"]; n != nil && n.CPU > 0 {
			a.VsNone = a.CPU / n.CPU
		}
	}
	return out
}

// cmdOut is the trimmed output of a command, even when it exits non-zero
// (wrk -v prints its version with the usage and exits 1).
func cmdOut(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if len(out) == 0 && err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

func machine(o *options) []string {
	model := "?"
	for _, l := range strings.Split(cmdOut("lscpu"), "\n") {
		if v, ok := strings.CutPrefix(l, "Model name:"); ok {
			model = strings.TrimSpace(v)
			break
		}
	}
	wrkV := strings.SplitN(cmdOut("wrk", "-v"), "\n", 2)[0]
	if i := strings.Index(wrkV, " Copyright"); i > 0 {
		wrkV = wrkV[:i]
	}
	return []string{
		fmt.Sprintf("nproc %s, CPU %s (lscpu), Linux %s", cmdOut("nproc", "--all"), model, cmdOut("uname", "-r")),
		fmt.Sprintf("%s; %s; %s; %s (git %s)", cmdOut(o.heimdallBin, "version"), strings.TrimPrefix(cmdOut("nginx", "-v"), "nginx version: "), wrkV, runtime.Version(), cmdOut("git", "describe", "--always", "--dirty")),
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

func ratio(x float64) string {
	if x == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", x)
}

// noisy reports whether other processes disturbed the run.
func (r *report) noisy(as []*agg) (bool, float64) {
	worst := 0.0
	for _, a := range as {
		worst = max(worst, a.Foreign)
	}
	return r.ForeignOverall > 0.05 || worst > 0.10, worst
}

func (r *report) budget(as []*agg) [][4]string {
	by := map[string]*agg{}
	for _, a := range as {
		by[a.Key] = a
	}
	var rows [][4]string
	check := func(name, num, den string, limit float64) {
		n, d := by[num], by[den]
		if n == nil || d == nil || d.CPU == 0 {
			return
		}
		x := n.CPU / d.CPU
		mark := "met"
		if x > limit {
			mark = "NOT met"
		}
		rows = append(rows, [4]string{name, fmt.Sprintf("%.3f×", x), fmt.Sprintf("≤ %.1f×", limit), mark})
	}
	check("Heimdall no plugin / nginx (GET)", "get/none", "get/nginx", 1.3)
	check("headers plugin / nginx (GET)", "get/headers", "get/nginx", 1.5)
	check("headers plugin / no plugin (GET)", "get/headers", "get/none", 1.1)
	check("headers plugin, trusted / nginx (GET)", "get/headers-trusted", "get/nginx", 1.5)
	check("headers plugin, trusted / no plugin (GET)", "get/headers-trusted", "get/none", 1.1)
	return rows
}

func (r *report) markdown() string {
	o := r.Options
	as := r.aggs()
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# Side-by-side benchmark, %s\n\n", r.When.UTC().Format("2006-01-02 15:04 MST"))
	if o.note != "" {
		p("**Note:** %s\n\n", o.note)
	}
	noisy, worst := r.noisy(as)
	if noisy {
		p("**NOISY RUN:** other processes used %.0f%% of the machine on average during the runs (%.0f%% in the worst run); treat the numbers as indicative only.\n\n", 100*r.ForeignOverall, 100*worst)
	} else {
		p("Quiet machine: other processes used %.1f%% of the machine during the runs (%.1f%% in the worst run).\n\n", 100*r.ForeignOverall, 100*worst)
	}
	for _, l := range machine(o) {
		p("- %s\n", l)
	}
	p("- Pinning: wrk, the open-loop generator, the upstream and the harness on CPU %s; the system under test on CPU %s with GOMAXPROCS=1 (nginx: worker_processes 1).\n", o.loadCPU, o.sutCPU)
	p("- Per variant: %s wrk warm-up, then %d rounds of [wrk %s closed loop, %d connections, 1 thread] + [open loop %s at %.0f%% of that round's wrk req/s, at most %.0f req/s, rate/100 connections clamped to 8..%d]; variants interleaved, order rotated each round, each run started once the SUT CPU is idle. Values are medians over the rounds.\n",
		o.warmup, o.rounds, o.duration, o.conns, o.openDuration, 100*o.openFraction, o.openMaxRate, o.conns)
	p("- Upstream: fasthttp on CPU %s; GET answers 128 bytes, POST echoes the body as application/json. Heimdall and nginx keep %d+ upstream connections alive.\n", o.loadCPU, o.conns)
	p("- Total time: %s.\n\n", r.Elapsed.Round(time.Second))

	p("## Closed loop (wrk): throughput and CPU per request\n\n")
	p("CPU µs/req = the system under test's utime+stime (/proc/<pid>/stat, nginx master+worker) over the run ÷ requests completed; range = min–max over rounds. ")
	p("SUT busy = its CPU ÷ wall time: below ~95%% the load side (CPU %s, `load` column) was the bottleneck, so req/s understates the SUT while CPU µs/req stays valid.\n\n", o.loadCPU)
	p("| workload | variant | req/s | CPU µs/req (range) | CPU × nginx | CPU × no plugin | req/s × nginx | SUT busy | load | RSS MiB (peak) | errors |\n")
	p("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, a := range as {
		p("| %s | %s | %.0f | %.2f (%.2f–%.2f) | %s | %s | %s | %.0f%% | %.0f%% | %s (%s) | %d |\n",
			a.Workload, a.Label, a.RPS, a.CPU, a.CPUMin, a.CPUMax, ratio(a.VsNginx), ratio(a.VsNone), ratio(a.RPSVsNginx),
			100*a.Busy, 100*a.LoadBusy, mib(a.RSS), mib(a.HWM), a.Errors)
	}
	p("\n## Open loop at %.0f%% of max, at most %.0f req/s: latency\n\n", 100*o.openFraction, o.openMaxRate)
	p("The generator shares CPU %s with the upstream, so the rate is capped; the fast variants are then all offered the same rate, which makes their latencies directly comparable. ", o.loadCPU)
	p("Latency is measured from each request's scheduled send time (no coordinated omission). `lag p99` is how late the generator itself sent (its own scheduling); when it is a large part of p99, the load side, not the SUT, limits the percentiles. CPU µs/req at this lower load is usually higher than at saturation (less batching per wake-up).\n\n")
	p("| workload | variant | rate req/s | p50 µs | p99 µs | p99.9 µs | lag p99 µs | CPU µs/req | load |\n")
	p("|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, a := range as {
		p("| %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.2f | %.0f%% |\n", a.Workload, a.Label, a.OpenRate, a.P50, a.P99, a.P999, a.LagP99, a.OpenCPU, 100*a.OpenLoad)
	}
	if rows := r.budget(as); len(rows) > 0 {
		p("\n## Budget (issue 6): CPU per request\n\n| ratio | measured | budget | |\n|---|---:|---:|---|\n")
		for _, row := range rows {
			p("| %s | %s | %s | %s |\n", row[0], row[1], row[2], row[3])
		}
	}
	if len(r.Idle) > 0 {
		p("\n## Idle keep-alive connections\n\nEach connection served one GET and then stayed idle; RSS measured 2 s later.\n\n| server | connections | RSS before MiB | RSS after MiB | growth per 1,000 connections |\n|---|---:|---:|---:|---:|\n")
		for _, ig := range r.Idle {
			p("| %s | %d | %s | %s | %.1f MiB |\n", r.Targets[ig.Target].label, ig.Conns, mib(ig.Before), mib(ig.After), ig.PerThousand()/(1<<20))
		}
	}
	if len(r.Instances) > 0 {
		p("\n## Memory per plugin instance\n\nRSS of two gateways differing only in the plugin's `pool_size` (every instance created and used: 2 × pool size requests).\n\n| plugin | RSS pool %d MiB | RSS pool %d MiB | per instance |\n|---|---:|---:|---:|\n", r.Instances[0].Small, r.Instances[0].Large)
		for _, im := range r.Instances {
			p("| %s | %s | %s | %.2f MiB |\n", im.Plugin, mib(im.RSSSmall), mib(im.RSSLarge), im.PerInstance/(1<<20))
		}
	}
	p("\n## Start-up (process start to first 200)\n\nThe gateways share a `wasm_cache_dir`: the first one to load a plugin compiles it (on one core), the others load the compiled code from the cache.\n\n| process | time |\n|---|---:|\n")
	keys := make([]string, 0, len(r.Targets))
	for k := range r.Targets {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p("| %s | %s |\n", r.Targets[k].label, r.Targets[k].startup.Round(time.Millisecond))
	}
	return b.String()
}

// summary is a short text version for the terminal.
func (r *report) summary() string {
	as := r.aggs()
	var b strings.Builder
	fmt.Fprintf(&b, "%-22s %9s %10s %8s %8s %8s %8s %9s\n", "variant", "req/s", "CPU µs/req", "×nginx", "×none", "p50 µs", "p99 µs", "p99.9 µs")
	for _, a := range as {
		fmt.Fprintf(&b, "%-22s %9.0f %10.2f %8s %8s %8.0f %8.0f %9.0f\n", a.Key, a.RPS, a.CPU, ratio(a.VsNginx), ratio(a.VsNone), a.P50, a.P99, a.P999)
	}
	for _, row := range r.budget(as) {
		fmt.Fprintf(&b, "budget: %s = %s (%s): %s\n", row[0], row[1], row[2], row[3])
	}
	if noisy, worst := r.noisy(as); noisy {
		fmt.Fprintf(&b, "NOISY: other processes used %.0f%% of the machine (worst run %.0f%%)\n", 100*r.ForeignOverall, 100*worst)
	}
	return b.String()
}

// write writes <date>-<time>.md and .json into dir.
func (r *report) write(dir string) (md, js string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	base := filepath.Join(dir, r.When.UTC().Format("2006-01-02-1504"))
	md, js = base+".md", base+".json"
	if err := os.WriteFile(md, []byte(r.markdown()), 0o644); err != nil {
		return "", "", err
	}
	raw := struct {
		When           time.Time    `json:"when"`
		Machine        []string     `json:"machine"`
		ForeignOverall float64      `json:"foreign_overall"`
		Variants       []*agg       `json:"variants"`
		Idle           []idleResult `json:"idle"`
		Instances      []instResult `json:"instances"`
	}{r.When, machine(r.Options), r.ForeignOverall, r.aggs(), r.Idle, r.Instances}
	b, err := json.MarshalIndent(raw, "", "  ")
	if err != nil {
		return "", "", err
	}
	return md, js, os.WriteFile(js, append(b, '\n'), 0o644)
}
