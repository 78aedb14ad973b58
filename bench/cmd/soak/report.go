package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// sample is one look at the gateway process.
type sample struct {
	at         time.Duration
	rssKiB     int64
	goroutines float64
	fds        int
	metrics    map[string]float64
}

func takeSample(pid int, metricsURL string, at time.Duration) sample {
	s := sample{at: at, rssKiB: -1, fds: -1}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "VmRSS:") {
				f := strings.Fields(l)
				if len(f) >= 2 {
					s.rssKiB, _ = strconv.ParseInt(f[1], 10, 64)
				}
			}
		}
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		s.fds = len(ents)
	}
	s.metrics = readMetrics(metricsURL)
	s.goroutines = -1
	if v, ok := s.metrics["go_goroutines"]; ok {
		s.goroutines = v
	}
	return s
}

// flat says whether end is within tol of base, with an absolute slack (a
// few goroutines or fds come and go with connections).
func flat(base, end, tol, slack float64) bool {
	return end <= base*(1+tol)+slack
}

func report(o options, samples []sample, idle *sample, st *stats, crashed error, logTail string) string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "## Soak %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "`go run ./bench/cmd/soak %s` on %s, %d CPUs (-duration %s -rate %d; %d samples every %s; baseline after %s warm-up)\n\n",
		strings.Join(os.Args[1:], " "), host, runtime.NumCPU(), o.duration, o.rate, len(samples), o.sample, o.warmup)
	if crashed != nil {
		fmt.Fprintf(&b, "**%v**\n\n```\n%s\n```\n\n", crashed, logTail)
	}
	if len(samples) == 0 {
		return b.String()
	}
	first, last := samples[0], samples[len(samples)-1]
	base := first
	for _, s := range samples {
		if s.at >= o.warmup {
			base = s
			break
		}
	}
	var maxRSS int64
	var maxG float64
	maxFD := 0
	for _, s := range samples {
		maxRSS = max(maxRSS, s.rssKiB)
		maxG = max(maxG, s.goroutines)
		maxFD = max(maxFD, s.fds)
	}
	mib := func(k int64) string { return fmt.Sprintf("%.1f MiB", float64(k)/1024) }
	in := sample{rssKiB: -1, goroutines: -1, fds: -1}
	idleAt := "–"
	if idle != nil {
		in = *idle
		idleAt = (in.at - last.at).Round(time.Second).String() + " after"
	}
	fmt.Fprintf(&b, "| gateway | start | after warm-up (%s) | end (%s) | max | idle (%s) |\n|---|---:|---:|---:|---:|---:|\n",
		base.at.Round(time.Second), last.at.Round(time.Second), idleAt)
	fmt.Fprintf(&b, "| RSS | %s | %s | %s | %s | %s |\n", mib(first.rssKiB), mib(base.rssKiB), mib(last.rssKiB), mib(maxRSS), mib(in.rssKiB))
	fmt.Fprintf(&b, "| goroutines | %.0f | %.0f | %.0f | %.0f | %.0f |\n", first.goroutines, base.goroutines, last.goroutines, maxG, in.goroutines)
	fmt.Fprintf(&b, "| open fds | %d | %d | %d | %d | %d |\n\n", first.fds, base.fds, last.fds, maxFD, in.fds)

	rssFlat := flat(float64(base.rssKiB), float64(last.rssKiB), o.tolerance, 8*1024)
	gFlat := flat(base.goroutines, last.goroutines, o.tolerance, 10)
	fdFlat := flat(float64(base.fds), float64(last.fds), o.tolerance, 10)
	verdict := func(ok bool) string {
		if ok {
			return "flat"
		}
		return "GREW"
	}
	fmt.Fprintf(&b, "**Verdict:** RSS %s, goroutines %s, fds %s (end, under load, within %.0f%% of the after-warm-up value, plus 8 MiB / 10 / 10).",
		verdict(rssFlat), verdict(gFlat), verdict(fdFlat), o.tolerance*100)
	if idle != nil {
		fmt.Fprintf(&b, " Idle, load stopped: goroutines %s, fds %s (within 10 of start).",
			verdict(flat(first.goroutines, in.goroutines, 0, 10)), verdict(flat(float64(first.fds), float64(in.fds), 0, 10)))
	}
	b.WriteString("\n\n")

	// Load.
	st.mu.Lock()
	defer st.mu.Unlock()
	fmt.Fprintf(&b, "Requests sent: %d (%.0f/s), dropped by the load generator (all %d in flight busy): %d.\n\n",
		st.sent, float64(st.sent)/max(st.elapsed.Seconds(), 1), o.inflight, st.dropped)
	names := map[string]bool{}
	for k := range st.status {
		names[k] = true
	}
	for k := range st.errs {
		names[k] = true
	}
	var order []string
	for _, k := range append(append([]kind{}, mix...), rare...) {
		if names[k.name] {
			order = append(order, k.name)
		}
	}
	b.WriteString("| traffic | sent as | statuses | client errors | p99 |\n|---|---|---|---|---:|\n")
	for _, n := range order {
		var k kind
		for _, c := range append(append([]kind{}, mix...), rare...) {
			if c.name == n {
				k = c
			}
		}
		var codes []int
		for c := range st.status[n] {
			codes = append(codes, c)
		}
		sort.Ints(codes)
		var cs []string
		for _, c := range codes {
			cs = append(cs, fmt.Sprintf("%d×%d", c, st.status[n][c]))
		}
		var es []string
		for e, c := range st.errs[n] {
			es = append(es, fmt.Sprintf("%d× %s", c, e))
		}
		sort.Strings(es)
		method := "GET"
		if k.post {
			method = "POST"
		}
		fmt.Fprintf(&b, "| %s | %s %s%s | %s | %s | %s |\n", n, method, k.route, "soak, "+k.conn,
			strings.Join(cs, " "), strings.Join(es, "; "), st.p99(n).Round(time.Millisecond))
	}
	b.WriteString("\n")

	// Plugin failure counters (end totals), per plugin.
	b.WriteString("| metric (end) | misbehave (fail_closed) | misbehave_open (fail_open) | headers | heimdall | jsonmask |\n|---|---:|---:|---:|---:|---:|\n")
	for _, m := range []string{"heimdall_wasm_instantiations_total", "heimdall_wasm_traps_total", "heimdall_wasm_timeouts_total",
		"heimdall_wasm_backoff_rejects_total", "heimdall_wasm_failed_streams_total", "heimdall_wasm_recycles_total",
		"heimdall_wasm_limits_exceeded_total", "heimdall_wasm_memory_bytes_total"} {
		fmt.Fprintf(&b, "| %s |", m)
		for _, p := range []string{"misbehave", "misbehave_open", "headers", "heimdall", "jsonmask"} {
			v, ok := last.metrics[m+"{"+p+"}"]
			if !ok {
				fmt.Fprintf(&b, " – |")
				continue
			}
			if strings.HasSuffix(m, "_bytes_total") {
				fmt.Fprintf(&b, " %.1f MiB |", v/(1<<20))
			} else {
				fmt.Fprintf(&b, " %.0f |", v)
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\napisix_http_requests_total at end: %.0f; client connections accepted %.0f, active at end %.0f.\n\n",
		last.metrics["apisix_http_requests_total"], last.metrics["apisix_nginx_http_current_connections{accepted}"],
		last.metrics["apisix_nginx_http_current_connections{active}"])

	// The time series, for a look at the shape.
	b.WriteString("<details><summary>samples</summary>\n\n| t | RSS | goroutines | fds | wasm memory | traps |\n|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range samples {
		fmt.Fprintf(&b, "| %s | %s | %.0f | %d | %.1f MiB | %.0f |\n", s.at.Round(time.Second), mib(s.rssKiB), s.goroutines, s.fds,
			s.metrics["heimdall_wasm_memory_bytes_total"]/(1<<20), s.metrics["heimdall_wasm_traps_total"])
	}
	b.WriteString("\n</details>\n")
	return b.String()
}
