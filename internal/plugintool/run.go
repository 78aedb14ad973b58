package plugintool

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"

	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/egress"
	"github.com/heimdallgw/heimdall/internal/filter"
	"github.com/heimdallgw/heimdall/internal/proxy"
	"github.com/heimdallgw/heimdall/internal/server"
	"github.com/heimdallgw/heimdall/internal/wasm/abi"
	"github.com/heimdallgw/heimdall/internal/wasm/engine"
	"github.com/heimdallgw/heimdall/internal/wasm/host"
	"github.com/heimdallgw/heimdall/internal/wasm/sockets"
)

// RunOptions describe one offline run of a plugin.
type RunOptions struct {
	// Name is the plugin name (property plugin_name); "" = the file's base name.
	Name string
	File string
	Wasm []byte
	// Conf is the plugin configuration (proxy_on_configure).
	Conf []byte
	// Requests are HTTP/1.1 request messages (see NormaliseMessage), sent
	// one after the other; none = one GET /.
	Requests [][]byte
	// RequestNames name Requests in errors (their files); default "request N".
	RequestNames []string
	// Response is the canned upstream response (an HTTP/1.1 message);
	// when nil, Upstream is used; when both are empty, 200 with no body.
	Response []byte
	// Upstream is a real upstream, http://host:port or https://host:port.
	Upstream string
	// Network is the plugin's socket allow list (config.yaml network.allow);
	// DNS resolution is allowed when it is not empty.
	Network []string
	// Ticks waits for that many proxy_on_tick calls after the requests.
	Ticks int
	// Trace puts every env host call and callback in the output.
	Trace bool
	// TraceWASI adds the WASI and socket calls (raw arguments and errno;
	// with a Go plugin mostly its runtime's clock and random calls).
	TraceWASI bool
	// LogLevel is the gateway's log level (the plugin sees it); default debug.
	LogLevel slog.Level
	// CacheDir is the compilation cache ("" = engine.DefaultCacheDir()).
	CacheDir string
	// Progress, when set, is told about slow steps (compiling).
	Progress Progress
}

// Exchange is one request's outcome.
type Exchange struct {
	// Upstream is the request as the upstream received it (nil: it was
	// not sent, the plugin or the gateway answered).
	Upstream []byte
	// Response is the response as the client received it.
	Response []byte
	Status   int
	// Local: the plugin answered with proxy_send_local_response.
	Local bool
}

// RunResult is what a run produced.
type RunResult struct {
	// Events are the log lines (and, with Trace, the trace) in order.
	Events    []string
	Exchanges []Exchange
	// Trap is the first failed callback ("" when none).
	Trap string
}

// Exit statuses of `heimdall plugin run`.
const (
	ExitOK    = 0 // every request reached the upstream, nothing trapped
	ExitTrap  = 1 // a callback trapped or failed (or the run failed)
	ExitLocal = 3 // the plugin answered a request itself
)

// ExitCode is the process exit status for r.
func (r *RunResult) ExitCode() int {
	if r.Trap != "" {
		return ExitTrap
	}
	for _, x := range r.Exchanges {
		if x.Local {
			return ExitLocal
		}
		if x.Upstream == nil {
			return ExitTrap // the gateway answered (502, 503...)
		}
	}
	return ExitOK
}

// Write prints the run: the log (and trace), then each request as the
// upstream received it and the response as the client received it.
func (r *RunResult) Write(w io.Writer) {
	fmt.Fprintln(w, "=== plugin log")
	for _, e := range r.Events {
		fmt.Fprintln(w, e)
	}
	for i, x := range r.Exchanges {
		n := ""
		if len(r.Exchanges) > 1 {
			n = fmt.Sprintf(" %d", i+1)
		}
		fmt.Fprintf(w, "=== request%s to the upstream\n", n)
		if x.Upstream == nil {
			if x.Local {
				fmt.Fprintln(w, "(not sent: the plugin answered locally)")
			} else {
				fmt.Fprintln(w, "(not sent: the gateway answered)")
			}
		} else {
			writeWire(w, x.Upstream)
		}
		fmt.Fprintf(w, "=== response%s to the client\n", n)
		writeWire(w, x.Response)
	}
	if r.Trap != "" {
		fmt.Fprintf(w, "=== trap\n%s\n", r.Trap)
	}
}

// writeWire prints an HTTP message with its CRLFs as line ends.
func writeWire(w io.Writer, msg []byte) {
	s := strings.ReplaceAll(string(msg), "\r\n", "\n")
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	io.WriteString(w, s)
}

// Run loads the plugin on the real host (with the socket extension, as the
// gateway), configures it, sends the requests through the real proxy and
// HTTP server on a loopback port to a recording upstream, then closes
// everything (on_done, on_delete) and returns what happened.
func Run(ctx context.Context, o RunOptions) (*RunResult, error) {
	r, err := Load(ctx, o)
	if err != nil {
		return nil, err
	}
	defer r.Close(ctx)
	return r.Run(ctx, o)
}

// Runner is a plugin loaded for runs: several cases share its compiled
// module and instance (as routes share a plugin in the gateway).
type Runner struct {
	name string
	p    *host.Plugin
	ev   *events
	tr   *runTracer
	log  *slog.Logger
}

// Load compiles and loads the plugin of o (Name, File, Wasm, Network,
// Trace, LogLevel, CacheDir, Progress).
func Load(ctx context.Context, o RunOptions) (*Runner, error) {
	if o.Name == "" {
		o.Name = strings.TrimSuffix(filepath.Base(o.File), filepath.Ext(o.File))
	}
	ev := &events{trace: o.Trace || o.TraceWASI}
	r := &Runner{name: o.Name, ev: ev, tr: &runTracer{ev: ev, wasi: o.TraceWASI, ticked: make(chan struct{}, 1)}}
	r.log = slog.New(&eventHandler{ev: ev, level: o.LogLevel})
	// --network is the plugin's whole outbound policy, as network.allow
	// (with dns) in config.yaml: sockets, Redis and http_call alike.
	eg, err := egress.New(egress.Config{Plugin: o.Name, Allow: o.Network, DNS: len(o.Network) > 0, Logger: r.log})
	if err != nil {
		return nil, fmt.Errorf("--network: %w", err)
	}
	ext, err := sockets.New(ctx, sockets.Options{Plugin: o.Name, Egress: eg, Logger: r.log})
	if err != nil {
		return nil, fmt.Errorf("--network: %w", err)
	}
	err = Compiling(o.Progress, o.Name, len(o.Wasm), func() (err error) {
		r.p, err = host.Load(ctx, host.PluginConfig{
			Name: o.Name, Wasm: o.Wasm, PoolSize: 1, CacheDir: o.CacheDir,
			Extensions: []engine.Extension{ext}, Egress: eg, Trace: r.tr,
		}, r.log)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Close releases the plugin.
func (r *Runner) Close(ctx context.Context) error { return r.p.Close(context.WithoutCancel(ctx)) }

// Run runs one case: o's Conf, Requests (RequestNames), Response or
// Upstream, and Ticks; the other fields were Load's.
func (r *Runner) Run(ctx context.Context, o RunOptions) (_ *RunResult, err error) {
	if len(o.Requests) == 0 {
		o.Requests = [][]byte{[]byte("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")}
	}
	var reqs [][]byte
	for i, rq := range o.Requests {
		what := fmt.Sprintf("request %d", i+1)
		if i < len(o.RequestNames) {
			what = o.RequestNames[i]
		}
		n, err := NormaliseMessage(rq, what)
		if err != nil {
			return nil, err
		}
		if err := checkRequest(n, what); err != nil {
			return nil, err
		}
		reqs = append(reqs, n)
	}
	var canned []byte
	var target *url.URL
	switch {
	case o.Response != nil:
		if canned, err = NormaliseMessage(o.Response, "response"); err != nil {
			return nil, err
		}
		if _, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(canned)), nil); err != nil {
			return nil, fmt.Errorf("response: not an HTTP/1.1 response: %w", err)
		}
	case o.Upstream != "":
		if target, err = url.Parse(o.Upstream); err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
			return nil, fmt.Errorf("upstream %q: want http://host:port or https://host:port", o.Upstream)
		}
	default:
		canned = []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	}

	ev, tr, log := r.ev, r.tr, r.log
	ev.reset()
	tr.reset()
	res := &RunResult{}
	f, err := r.p.NewFactory(ctx, "plugin-run", o.Conf)
	if err != nil {
		res.Events = ev.lines()
		res.Trap = tr.trapText()
		if res.Trap == "" {
			res.Trap = err.Error()
		}
		return res, nil
	}
	closeFactory := sync.OnceFunc(func() { f.Close() })
	defer closeFactory()

	up, err := startUpstream(canned, target)
	if err != nil {
		return nil, err
	}
	defer up.close()
	ucfg := &config.Upstream{
		ID:      "plugin-run",
		Nodes:   []config.Node{{Host: "127.0.0.1", Port: up.port(), Weight: 1}},
		Timeout: config.Timeout{Connect: 5 * time.Second, Send: 30 * time.Second, Read: 30 * time.Second},
		Retries: 0,
	}
	if target != nil {
		ucfg.PassHost, ucfg.UpstreamHost = "rewrite", target.Host
	}
	pu, err := proxy.NewUpstream(ucfg, proxy.UpstreamOptions{})
	if err != nil {
		return nil, err
	}
	defer pu.Close()
	route := &proxy.Route{ID: "plugin-run", Upstream: pu, Filters: []filter.Factory{f}}
	px := proxy.New(proxy.Options{ErrorLog: log})
	px.SetRoutes(proxy.NewTable(func(_, _, _ []byte) *proxy.Route { return route }))
	srv := server.New(server.Config{ErrorLog: log}, px)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go srv.Serve(l) //nolint:errcheck // ends with Shutdown
	defer srv.Shutdown(context.WithoutCancel(ctx))

	for _, rq := range reqs {
		before := up.count()
		tr.local.Store(false)
		resp, status, err := roundTrip(ctx, l.Addr().String(), rq)
		if err != nil {
			return nil, err
		}
		x := Exchange{Response: resp, Status: status, Local: tr.local.Load()}
		if up.count() > before {
			x.Upstream = up.last()
		}
		res.Exchanges = append(res.Exchanges, x)
	}
	// The stream's last callbacks (on_log, on_done) run after the
	// response is written: Shutdown waits for them.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	srv.Shutdown(sctx)
	cancel()
	if o.Ticks > 0 {
		if err := tr.waitTicks(ctx, o.Ticks); err != nil {
			ev.add("heimdall: " + err.Error())
		}
	}
	closeFactory() // the root context's on_done, on_delete
	res.Events = ev.lines()
	res.Trap = tr.trapText()
	return res, nil
}

// roundTrip sends one raw request and reads the raw response.
func roundTrip(ctx context.Context, addr string, req []byte) ([]byte, int, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.Write(req); err != nil {
		return nil, 0, err
	}
	var raw bytes.Buffer
	br := bufio.NewReader(io.TeeReader(c, &raw))
	hreq, _ := http.ReadRequest(bufio.NewReader(bytes.NewReader(req)))
	resp, err := http.ReadResponse(br, hreq)
	if err != nil {
		return nil, 0, fmt.Errorf("reading the gateway's response: %w", err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return nil, 0, fmt.Errorf("reading the gateway's response body: %w", err)
	}
	resp.Body.Close()
	// The bufio reader may have read ahead of the message: keep only it.
	n := raw.Len() - br.Buffered()
	return raw.Bytes()[:n], resp.StatusCode, nil
}

// upstream is a loopback server that records each request's bytes and
// answers with the canned response or by forwarding to target.
type upstream struct {
	l      net.Listener
	canned []byte
	target *url.URL
	mu     sync.Mutex
	reqs   [][]byte
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func startUpstream(canned []byte, target *url.URL) (*upstream, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &upstream{l: l, canned: canned, target: target, conns: map[net.Conn]struct{}{}}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u.mu.Lock()
			u.conns[c] = struct{}{}
			u.mu.Unlock()
			u.wg.Add(1)
			go func() {
				defer u.wg.Done()
				u.serve(c)
				u.mu.Lock()
				delete(u.conns, c)
				u.mu.Unlock()
				c.Close()
			}()
		}
	}()
	return u, nil
}

func (u *upstream) port() int { return u.l.Addr().(*net.TCPAddr).Port }

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

func (u *upstream) last() []byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.reqs[len(u.reqs)-1]
}

func (u *upstream) serve(c net.Conn) {
	var raw bytes.Buffer
	br := bufio.NewReader(io.TeeReader(c, &raw))
	for {
		raw.Reset()
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return
		}
		msg := append([]byte(nil), raw.Bytes()[:raw.Len()-br.Buffered()]...)
		u.mu.Lock()
		u.reqs = append(u.reqs, msg)
		u.mu.Unlock()
		var resp []byte
		if u.target != nil {
			resp, err = forward(u.target, msg, req)
			if err != nil {
				resp = []byte(fmt.Sprintf("HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s",
					len(err.Error()), err.Error()))
			}
		} else {
			resp = u.canned
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

// forward sends msg to the real upstream and returns its raw response.
func forward(target *url.URL, msg []byte, req *http.Request) ([]byte, error) {
	addr := target.Host
	if target.Port() == "" {
		if target.Scheme == "https" {
			addr += ":443"
		} else {
			addr += ":80"
		}
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	var c net.Conn
	var err error
	if target.Scheme == "https" {
		c, err = tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: target.Hostname()})
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", target, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.Write(msg); err != nil {
		return nil, fmt.Errorf("upstream %s: %w", target, err)
	}
	var raw bytes.Buffer
	br := bufio.NewReader(io.TeeReader(c, &raw))
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", target, err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return nil, fmt.Errorf("upstream %s: %w", target, err)
	}
	return raw.Bytes()[:raw.Len()-br.Buffered()], nil
}

func (u *upstream) close() {
	u.l.Close()
	u.mu.Lock()
	for c := range u.conns {
		c.Close()
	}
	u.mu.Unlock()
	u.wg.Wait()
}

// events is the ordered log (and trace) of a run.
type events struct {
	trace bool
	mu    sync.Mutex
	l     []string
	depth int
}

func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.l = append(e.l, s)
}

func (e *events) reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.l, e.depth = nil, 0
}

func (e *events) lines() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.l...)
}

// eventHandler is the slog handler of a run: one line per record, level
// and message, plus the attributes that explain a failure.
type eventHandler struct {
	ev    *events
	level slog.Level
	attrs []slog.Attr
}

// shownAttrs are the attributes a run prints; the others (client address,
// request line, ids) are the same for every line or vary between runs.
var shownAttrs = map[string]bool{"callback": true, "error": true, "err": true, "reason": true, "stream": true, "status": true, "destination": true}

func (h *eventHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *eventHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(strings.ToLower(r.Level.String()))
	b.WriteString(" ")
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		if shownAttrs[a.Key] {
			fmt.Fprintf(&b, " %s=%s", a.Key, strconv.Quote(a.Value.String()))
		}
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	// A multi-line message (a body, a stack trace) stays readable: its
	// continuation lines are indented.
	h.ev.add(strings.ReplaceAll(b.String(), "\n", "\n    "))
	return nil
}

func (h *eventHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &n
}

func (h *eventHandler) WithGroup(string) slog.Handler { return h }

// runTracer turns host.Tracer events into trace lines (when tracing) and
// watches for traps, local responses and ticks.
type runTracer struct {
	ev     *events
	wasi   bool // report SystemCall too
	mu     sync.Mutex
	trap   string
	local  atomic.Bool
	ticks  int
	period time.Duration
	ticked chan struct{}
}

func (t *runTracer) HostCall(id uint32, name, args string, st abi.Status, result string) {
	if name == "proxy_send_local_response" && st == abi.StatusOK {
		t.local.Store(true)
	}
	if name == "proxy_set_tick_period_milliseconds" && st == abi.StatusOK {
		if ms, err := strconv.Atoi(strings.TrimSuffix(args, "ms")); err == nil {
			t.mu.Lock()
			t.period = time.Duration(ms) * time.Millisecond
			t.mu.Unlock()
		}
	}
	if !t.ev.trace {
		return
	}
	line := fmt.Sprintf("%s%s(%s) -> %s", t.indent(), name, args, st)
	if result != "" {
		line += " " + result
	}
	t.ev.add(line)
}

func (t *runTracer) SystemCall(id uint32, module, name string, params, results []uint64) {
	if !t.wasi {
		return
	}
	res := ""
	if len(results) > 0 {
		res = " -> errno " + strconv.FormatUint(uint64(uint32(results[0])), 10)
	}
	t.ev.add(fmt.Sprintf("%s%s.%s(%s)%s", t.indent(), module, name, joinArgs(params), res))
}

func (t *runTracer) indent() string {
	t.ev.mu.Lock()
	defer t.ev.mu.Unlock()
	return "  | " + strings.Repeat("  ", max(t.ev.depth-1, 0))
}

func (t *runTracer) CallbackStart(id uint32, name string, args []uint64) {
	if !t.ev.trace {
		return
	}
	t.ev.add(fmt.Sprintf("  %s> %s(%s)", strings.Repeat("  ", t.depth()), name, joinArgs(args)))
	t.ev.mu.Lock()
	t.ev.depth++
	t.ev.mu.Unlock()
}

func (t *runTracer) depth() int {
	t.ev.mu.Lock()
	defer t.ev.mu.Unlock()
	return t.ev.depth
}

func (t *runTracer) Callback(id uint32, name string, args []uint64, result uint64, d time.Duration, err error) {
	if err != nil {
		t.mu.Lock()
		if t.trap == "" {
			t.trap = fmt.Sprintf("%s (context %d): %v", name, id, err)
		}
		t.mu.Unlock()
	}
	if name == "proxy_on_tick" && err == nil {
		t.mu.Lock()
		t.ticks++
		t.mu.Unlock()
		select {
		case t.ticked <- struct{}{}:
		default:
		}
	}
	if !t.ev.trace {
		return
	}
	t.ev.mu.Lock()
	t.ev.depth = max(t.ev.depth-1, 0)
	t.ev.mu.Unlock()
	out := resultName(name, result)
	if err != nil {
		out = "trap: " + err.Error()
	}
	t.ev.add(fmt.Sprintf("  %s< %s = %s (%s)", strings.Repeat("  ", t.depth()), name, out, d.Round(time.Microsecond)))
}

func (t *runTracer) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.trap, t.ticks, t.period = "", 0, 0
	t.local.Store(false)
}

func (t *runTracer) trapText() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.trap
}

func (t *runTracer) waitTicks(ctx context.Context, n int) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		t.mu.Lock()
		got, period := t.ticks, t.period
		t.mu.Unlock()
		if got >= n {
			return nil
		}
		if period == 0 && time.Now().After(deadline) {
			return fmt.Errorf("--ticks %d: the plugin set no tick period (proxy_set_tick_period_milliseconds), so on_tick is never called", n)
		}
		if period > 0 {
			deadline = time.Now().Add(period*time.Duration(n-got) + 5*time.Second)
		}
		select {
		case <-t.ticked:
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func joinArgs(a []uint64) string {
	s := make([]string, len(a))
	for i, x := range a {
		s[i] = strconv.FormatUint(uint64(uint32(x)), 10)
	}
	return strings.Join(s, ", ")
}

// resultName names a callback's result: an action, a bool, or a number.
func resultName(cb string, r uint64) string {
	switch cb {
	case "proxy_on_request_headers", "proxy_on_request_body", "proxy_on_request_trailers",
		"proxy_on_response_headers", "proxy_on_response_body", "proxy_on_response_trailers":
		if uint32(r) == 0 {
			return "Continue"
		}
		return "Pause"
	case "proxy_on_vm_start", "proxy_on_configure", "proxy_on_done":
		return strconv.FormatBool(uint32(r) != 0)
	}
	return strconv.FormatUint(uint64(uint32(r)), 10)
}
