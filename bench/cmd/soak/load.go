package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// kind is one entry of the traffic mix: a weight (share of all requests), a
// route, and how the request is sent.
type kind struct {
	name   string
	weight int
	route  string // path prefix
	post   bool   // POST a JSON body, else GET
	fail   string // x-fail header ("" = none)
	conn   string // "keepalive", "new" (a connection per request), "slow" (head sent in pieces over ~1 s)
}

// mix is the traffic, by weight (97 in all): 72% keep-alive GET/POST over
// the healthy routes, 11% a new connection per request, 2% slow clients,
// 14% to the misbehaving plugin, 6% of all requests failing there (traps in
// different callbacks; the runaway loops and memory bombs are in rare).
var mix = []kind{
	{"plain GET", 20, "/plain/", false, "", "keepalive"},
	{"plain GET new conn", 5, "/plain/", false, "", "new"},
	{"plain GET slow client", 1, "/plain/", false, "", "slow"},
	{"headers GET", 15, "/headers/", false, "", "keepalive"},
	{"headers GET new conn", 3, "/headers/", false, "", "new"},
	{"heimdall GET", 15, "/heimdall/", false, "", "keepalive"},
	{"heimdall POST", 5, "/heimdall/", true, "", "keepalive"},
	{"jsonmask POST", 15, "/json/", true, "", "keepalive"},
	{"jsonmask POST new conn", 3, "/json/", true, "", "new"},
	{"jsonmask POST slow client", 1, "/json/", true, "", "slow"},
	{"fail-closed ok", 4, "/fail-closed/", false, "", "keepalive"},
	{"fail-closed trap request_headers", 1, "/fail-closed/", false, "request_headers=trap", "keepalive"},
	{"fail-closed trap response_headers", 1, "/fail-closed/", false, "response_headers=trap", "keepalive"},
	{"fail-closed trap request_body", 1, "/fail-closed/", true, "request_body=trap", "new"},
	{"fail-open ok", 4, "/fail-open/", false, "", "keepalive"},
	{"fail-open trap request_headers", 1, "/fail-open/", false, "request_headers=trap", "keepalive"},
	{"fail-open trap log", 1, "/fail-open/", false, "log=trap", "keepalive"},
	{"fail-open trap response_body", 1, "/fail-open/", false, "response_body=trap", "keepalive"},
}

// rare are failures sent at a fixed low rate rather than by weight: each is
// expensive for the gateway by design (a loop holds an instance for
// call_timeout; a memory bomb grows an instance to memory_limit).
var rare = []kind{
	{"fail-closed loop (call_timeout)", 0, "/fail-closed/", false, "request_headers=loop", "keepalive"},
	{"fail-closed oom (memory_limit)", 0, "/fail-closed/", false, "request_headers=oom", "keepalive"},
	{"fail-open loop (call_timeout)", 0, "/fail-open/", false, "request_headers=loop", "keepalive"},
	{"fail-open oom (memory_limit)", 0, "/fail-open/", false, "request_headers=oom", "keepalive"},
}

const rareEvery = 2 * time.Second // one of rare, in turn, every rareEvery

// stats counts, per kind, statuses and errors.
type stats struct {
	mu      sync.Mutex
	status  map[string]map[int]int
	errs    map[string]map[string]int
	dropped int
	sent    int
	lat     map[string][]time.Duration
	elapsed time.Duration // of the load, set when it has stopped
}

func newStats() *stats {
	return &stats{status: map[string]map[int]int{}, errs: map[string]map[string]int{}, lat: map[string][]time.Duration{}}
}

func (s *stats) record(k string, code int, err error, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		m := s.errs[k]
		if m == nil {
			m = map[string]int{}
			s.errs[k] = m
		}
		e := err.Error()
		if len(e) > 80 {
			e = e[:80]
		}
		m[e]++
		return
	}
	m := s.status[k]
	if m == nil {
		m = map[int]int{}
		s.status[k] = m
	}
	m[code]++
	if len(s.lat[k]) < 200000 {
		s.lat[k] = append(s.lat[k], d)
	}
}

func (s *stats) p99(k string) time.Duration {
	l := s.lat[k]
	if len(l) == 0 {
		return 0
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[len(l)*99/100]
}

// load sends o.rate requests per second (open loop: on schedule, whatever
// the answers do) until ctx is done, with at most o.inflight in flight, and
// then waits for those in flight and closes its connections.
func load(ctx context.Context, o options, addr string, st *stats) {
	hc := &fasthttp.HostClient{Addr: addr, MaxConns: o.inflight, ReadTimeout: 30 * time.Second, WriteTimeout: 10 * time.Second, MaxIdleConnDuration: 5 * time.Second}
	defer hc.CloseIdleConnections()
	total := 0
	for _, k := range mix {
		total += k.weight
	}
	pick := func(r *rand.Rand) kind {
		n := r.IntN(total)
		for _, k := range mix {
			if n < k.weight {
				return k
			}
			n -= k.weight
		}
		return mix[0]
	}
	sem := make(chan struct{}, o.inflight)
	var wg sync.WaitGroup
	fire := func(k kind) {
		select {
		case sem <- struct{}{}:
		default:
			st.mu.Lock()
			st.dropped++
			st.mu.Unlock()
			return
		}
		st.mu.Lock()
		st.sent++
		st.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t0 := time.Now()
			code, err := do(hc, addr, k)
			st.record(k.name, code, err, time.Since(t0))
		}()
	}
	r := rand.New(rand.NewPCG(1, 2))
	interval := time.Second / time.Duration(max(o.rate, 1))
	next := time.Now()
	nextRare, rareI := time.Now().Add(rareEvery), 0
	for ctx.Err() == nil {
		now := time.Now()
		for !next.After(now) {
			fire(pick(r))
			next = next.Add(interval)
		}
		if !nextRare.After(now) {
			fire(rare[rareI%len(rare)])
			rareI++
			nextRare = nextRare.Add(rareEvery)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(next)):
		}
	}
	wg.Wait()
}

// jsonBody is the POST body: 2 KiB of JSON with members jsonmask masks.
var jsonBody = func() []byte {
	var b strings.Builder
	b.WriteString(`{"items":[`)
	for i := 0; b.Len() < 2000; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"user":"user%d","password":"secret%d","ssn":"000-00-%04d"}`, i, i, i, i)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}()

func do(hc *fasthttp.HostClient, addr string, k kind) (int, error) {
	path := k.route + "soak"
	if k.conn == "keepalive" {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://" + addr + path)
		if k.post {
			req.Header.SetMethod("POST")
			req.Header.SetContentType("application/json")
			req.SetBody(jsonBody)
		}
		if k.fail != "" {
			req.Header.Set("x-fail", k.fail)
		}
		req.Header.Set("x-internal", "1")
		err := hc.DoTimeout(req, resp, 30*time.Second)
		return resp.StatusCode(), err
	}
	// A connection of its own: "new" writes the request at once,
	// "slow" in pieces over about a second; both close after it.
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	method := "GET"
	if k.post {
		method = "POST"
	}
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: soak\r\nConnection: close\r\nx-internal: 1\r\n", method, path)
	if k.fail != "" {
		fmt.Fprintf(&b, "x-fail: %s\r\n", k.fail)
	}
	if k.post {
		fmt.Fprintf(&b, "Content-Type: application/json\r\nContent-Length: %d\r\n", len(jsonBody))
	}
	b.WriteString("\r\n")
	msg := []byte(b.String())
	if k.post {
		msg = append(msg, jsonBody...)
	}
	if k.conn == "slow" {
		const pieces = 10
		step := (len(msg) + pieces - 1) / pieces
		for i := 0; i < len(msg); i += step {
			if _, err := c.Write(msg[i:min(i+step, len(msg))]); err != nil {
				return 0, err
			}
			time.Sleep(100 * time.Millisecond)
		}
	} else if _, err := c.Write(msg); err != nil {
		return 0, err
	}
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	if err := resp.Read(bufio.NewReader(c)); err != nil {
		return 0, err
	}
	return resp.StatusCode(), nil
}
