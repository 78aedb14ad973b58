package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// openResult is what the open-loop generator prints (JSON, one line).
type openResult struct {
	Rate     float64 `json:"rate"`     // target requests per second
	Achieved float64 `json:"achieved"` // completed requests per second
	Sent     int     `json:"sent"`
	OK       int     `json:"ok"`     // 2xx responses
	Non2xx   int     `json:"non2xx"` // other statuses
	Errors   int     `json:"errors"` // transport errors
	// Latency percentiles in µs, measured from the time each request was
	// scheduled to be sent (not from when it was sent), so a stalled server
	// is charged for the requests that queued behind it (no coordinated
	// omission).
	P50  float64 `json:"p50_us"`
	P90  float64 `json:"p90_us"`
	P99  float64 `json:"p99_us"`
	P999 float64 `json:"p999_us"`
	Max  float64 `json:"max_us"`
	// LagP99 is the 99th percentile of (sent - scheduled) in µs: how late the
	// generator itself was. Large values mean the load side was saturated
	// (or the server held every connection).
	LagP99 float64 `json:"lag_p99_us"`
	// CPUSeconds is the generator's own CPU time.
	CPUSeconds float64 `json:"cpu_s"`
}

// cmdOpenLoop sends requests at a fixed rate over a fixed set of keep-alive
// connections and prints an openResult. Request i is scheduled at
// start + i/rate; a free connection takes the next scheduled request, sleeps
// until its time and sends it. When every connection is busy requests wait,
// and that wait counts in their latency (as in wrk2).
func cmdOpenLoop(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("openloop", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "", "server host:port")
	path := fs.String("path", "/", "request path")
	rate := fs.Float64("rate", 1000, "requests per second")
	dur := fs.Duration("duration", 5*time.Second, "how long to send")
	conns := fs.Int("conns", 64, "connections")
	bodyFile := fs.String("body", "", "POST this file's contents (as application/json) instead of GET")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *addr == "" || *rate <= 0 || *conns <= 0 {
		fmt.Fprintln(stderr, "openloop: -addr, a positive -rate and -conns are required")
		return 2
	}
	var body []byte
	if *bodyFile != "" {
		b, err := os.ReadFile(*bodyFile)
		if err != nil {
			fmt.Fprintf(stderr, "openloop: %v\n", err)
			return 1
		}
		body = b
	}
	res, err := openLoop(ctx, *addr, *path, body, *rate, *dur, *conns)
	if err != nil {
		fmt.Fprintf(stderr, "openloop: %v\n", err)
		return 1
	}
	if err := json.NewEncoder(stdout).Encode(res); err != nil {
		return 1
	}
	return 0
}

// olConn is one keep-alive connection of the open-loop generator. Its
// goroutine waits in a read for the response of each request written on it.
type olConn struct {
	c   net.Conn
	br  *bufio.Reader
	cur atomic.Pointer[olReq] // the request in flight, set before it is written
	lat []int64
	lag []int64
}

// olReq is one request in flight: when it was scheduled and sent.
type olReq struct{ at, sent time.Time }

// openLoop paces requests from one goroutine locked to its own thread that
// sleeps in nanosleep (timer slack 1 µs, without releasing its P) rather
// than on Go timers, which wake up to 1 ms late when the process is idle
// (the runtime's epoll wait has millisecond resolution). At each scheduled
// time the pacer writes the request on a free connection; when none is free
// the request joins a backlog that connections drain as their responses
// arrive, so its latency includes the wait (measured from the scheduled
// time, as wrk2 does). The process needs GOMAXPROCS >= 2: one P stays with
// the pacer, the other runs the connections' goroutines.
func openLoop(ctx context.Context, addr, path string, body []byte, rate float64, dur time.Duration, conns int) (*openResult, error) {
	reqBytes := []byte("GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n")
	if body != nil {
		reqBytes = fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", path, addr, len(body), body)
	}
	total := int(rate * dur.Seconds())
	var (
		mu      sync.Mutex
		free    []*olConn
		backlog []time.Time
		ok      atomic.Int64
		non2xx  atomic.Int64
		errs    atomic.Int64
		dead    atomic.Int64 // connections lost to errors
		closing atomic.Bool
		wg      sync.WaitGroup
	)
	cs := make([]*olConn, 0, conns)
	defer func() {
		closing.Store(true)
		for _, c := range cs {
			c.c.Close()
		}
		wg.Wait()
	}()
	// Open every connection and send one request on each first, so that
	// connection set-up is not measured.
	for range conns {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return nil, err
		}
		per := 2*total/conns + 16
		c := &olConn{c: nc, br: bufio.NewReaderSize(nc, 16<<10), lat: make([]int64, 0, per), lag: make([]int64, 0, per)}
		cs = append(cs, c)
		resp := fasthttp.AcquireResponse()
		_, err = nc.Write(reqBytes)
		if err == nil {
			err = resp.Read(c.br)
		}
		fasthttp.ReleaseResponse(resp)
		if err != nil {
			return nil, fmt.Errorf("warming connections: %w", err)
		}
		free = append(free, c)
	}
	for _, c := range cs {
		wg.Go(func() {
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseResponse(resp)
			for {
				err := resp.Read(c.br)
				done := time.Now()
				if closing.Load() {
					return
				}
				r := c.cur.Load()
				switch {
				case err != nil || r == nil:
					errs.Add(1)
					dead.Add(1)
					return // the connection is unusable
				case resp.StatusCode() >= 200 && resp.StatusCode() < 300:
					ok.Add(1)
				default:
					non2xx.Add(1)
				}
				c.lat = append(c.lat, int64(done.Sub(r.at)))
				c.lag = append(c.lag, int64(r.sent.Sub(r.at)))
				mu.Lock()
				if len(backlog) == 0 {
					c.cur.Store(nil)
					free = append(free, c)
					mu.Unlock()
					continue
				}
				at := backlog[0]
				backlog = backlog[1:]
				mu.Unlock()
				c.cur.Store(&olReq{at: at, sent: time.Now()})
				if _, err := c.c.Write(reqBytes); err != nil {
					errs.Add(1)
					dead.Add(1)
					return
				}
			}
		})
	}

	var before syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	interval := float64(time.Second) / rate
	start := time.Now().Add(10 * time.Millisecond)
	pacerDone := make(chan int)
	go func() {
		// The thread exits with the goroutine (no UnlockOSThread), so its
		// timer slack does not leak to other goroutines.
		runtime.LockOSThread()
		setTimerSlack(1)
		setRealtime()
		sent := 0
		for i := 0; i < total && ctx.Err() == nil; i++ {
			at := start.Add(time.Duration(float64(i) * interval))
			for d := time.Until(at); d > 20*time.Microsecond; d = time.Until(at) {
				nanosleep(d)
			}
			sent++
			mu.Lock()
			if len(free) == 0 {
				backlog = append(backlog, at)
				mu.Unlock()
				continue
			}
			c := free[len(free)-1]
			free = free[:len(free)-1]
			mu.Unlock()
			c.cur.Store(&olReq{at: at, sent: time.Now()})
			if _, err := c.c.Write(reqBytes); err != nil {
				errs.Add(1)
				dead.Add(1)
			}
		}
		pacerDone <- sent
	}()
	sentN := <-pacerDone
	// Wait for the backlog to drain and the last responses (bounded).
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		idle := len(free)+int(dead.Load()) >= len(cs) && len(backlog) == 0
		mu.Unlock()
		if idle || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	var after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	mu.Lock() // the connections' goroutines append under no lock; this orders their last writes
	var lat, lag []int64
	for _, c := range free {
		lat = append(lat, c.lat...)
		lag = append(lag, c.lag...)
	}
	mu.Unlock()
	if len(lat) == 0 {
		return nil, errors.New("no request completed")
	}
	slices.Sort(lat)
	slices.Sort(lag)
	return &openResult{
		Rate:       rate,
		Achieved:   float64(len(lat)) / elapsed.Seconds(),
		Sent:       sentN,
		OK:         int(ok.Load()),
		Non2xx:     int(non2xx.Load()),
		Errors:     int(errs.Load()),
		P50:        pct(lat, 0.50),
		P90:        pct(lat, 0.90),
		P99:        pct(lat, 0.99),
		P999:       pct(lat, 0.999),
		Max:        float64(lat[len(lat)-1]) / 1e3,
		LagP99:     pct(lag, 0.99),
		CPUSeconds: tv(after.Utime) + tv(after.Stime) - tv(before.Utime) - tv(before.Stime),
	}, nil
}

// setTimerSlack sets the calling thread's timer slack in ns (PR_SET_TIMERSLACK).
func setTimerSlack(ns uintptr) {
	const prSetTimerSlack = 29
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, ns, 0)
}

// setRealtime makes the calling thread SCHED_FIFO (priority 1) when allowed
// (root), so that it runs as soon as its sleep ends instead of waiting for
// the upstream's or the generator's other threads to use up their time
// slice on the shared load CPU. It sleeps between sends, so it cannot
// starve them; the kernel's RT throttling bounds it anyway.
func setRealtime() {
	const schedFIFO = 1
	param := struct{ priority int32 }{1}
	_, _, _ = syscall.RawSyscall(syscall.SYS_SCHED_SETSCHEDULER, 0, schedFIFO, uintptr(unsafe.Pointer(&param)))
}

// nanosleep blocks the calling thread for d without telling the Go
// scheduler (a raw syscall keeps the P: no hand-off, no extra wake-ups).
// A signal (preemption) may end it early; callers loop.
func nanosleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	_, _, _ = syscall.RawSyscall(syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// pct is the q quantile of sorted (nearest rank), in µs.
func pct(sorted []int64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i]) / 1e3
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
