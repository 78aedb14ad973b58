package host

// The native Redis ABI of Higress:
//
//	proxy_redis_init(upstream, len, username, len, password, len, timeout_ms) → status
//	proxy_redis_call(upstream, len, query, len, *token) → status
//	proxy_on_redis_call_response(root_id, token, status, response_size)   (callback)
//	buffer type 9: the reply, during that callback
//
// query is one RESP-encoded command (an array of bulk strings, as Higress's
// wrapper builds it); the reply is handed back exactly as Redis sent it, one
// RESP value. The call is asynchronous like proxy_http_call: the host sends
// the command from a goroutine on a pooled connection and delivers the answer
// on the plugin instance under its slot lock, to the calling root context.
//
// Why not go-redis: its pool lives in an internal package and its commands
// decode replies into Go values (a status reply and a bulk string both become
// a string, RESP3 maps become Go maps); a Cmder cannot be implemented outside
// the package, so it cannot pass raw RESP through either way. A pool of
// net.Conn with a RESP framer (read exactly one value, keep its bytes) is
// small and lossless, and lets every dial go through the plugin's egress
// policy.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heimdallgw/heimdall/internal/egress"
	"github.com/heimdallgw/heimdall/internal/wasm/abi"
)

// Callback status of proxy_on_redis_call_response: 0 when Redis answered
// (the reply may be a RESP error such as -WRONGTYPE), non-zero when it did
// not (connection refused, policy refusal, timeout, protocol error). Higress's
// SDKs treat any non-zero status as "cannot reach redis".
const (
	redisStatusOK     = 0
	redisStatusFailed = 1
)

const (
	// redisDefaultTimeout applies when proxy_redis_init passes 0.
	redisDefaultTimeout = time.Second
	// redisMaxConns bounds the open connections of one upstream; a call
	// beyond it waits for a connection within its timeout.
	redisMaxConns = 64
	// redisMaxIdle bounds the idle connections kept per upstream.
	redisMaxIdle = 16
	// redisIdleTimeout drops connections idle for longer.
	redisIdleTimeout = 2 * time.Minute
	// redisMaxDepth bounds the nesting of a RESP value.
	redisMaxDepth = 64
	// redisMaxLine bounds a RESP header line.
	redisMaxLine = 64 << 10
)

// redisDenied are the commands proxy_redis_call refuses (BadArgument): they
// change the state of the pooled connection (the next call on it would see
// it) or turn it into a stream of pushes.
var redisDenied = map[string]bool{
	"AUTH": true, "HELLO": true, "SELECT": true, "CLIENT": true, "RESET": true, "QUIT": true,
	"MULTI": true, "EXEC": true, "DISCARD": true, "WATCH": true, "UNWATCH": true,
	"SUBSCRIBE": true, "PSUBSCRIBE": true, "SSUBSCRIBE": true,
	"UNSUBSCRIBE": true, "PUNSUBSCRIBE": true, "SUNSUBSCRIBE": true,
	"MONITOR": true, "SYNC": true, "PSYNC": true, "READONLY": true, "READWRITE": true,
}

// redisReply is the answer while proxy_on_redis_call_response runs.
type redisReply struct{ data []byte }

// redisClients are a plugin's Redis pools, one per upstream name given to
// proxy_redis_init. An init with other settings (credentials, timeout,
// address) replaces the pool: calls already sent finish on the old one.
type redisClients struct {
	once  sync.Once
	mu    sync.Mutex
	pools map[string]*redisPool
}

func (p *Plugin) redisPool(name string) *redisPool {
	p.redis.mu.Lock()
	defer p.redis.mu.Unlock()
	return p.redis.pools[name]
}

// setRedisPool installs (or replaces) the pool of an upstream name. The
// first one starts the goroutine that closes the pools with the plugin.
func (p *Plugin) setRedisPool(name string, rp *redisPool) {
	p.redis.once.Do(func() {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			<-p.ctx.Done()
			p.redis.mu.Lock()
			pools := p.redis.pools
			p.redis.pools = nil
			p.redis.mu.Unlock()
			for _, rp := range pools {
				rp.close()
			}
		}()
	})
	p.redis.mu.Lock()
	if p.ctx.Err() != nil {
		p.redis.mu.Unlock()
		rp.close()
		return
	}
	if p.redis.pools == nil {
		p.redis.pools = map[string]*redisPool{}
	}
	old := p.redis.pools[name]
	// Every instance's root context initialises the same upstream (at
	// once, when the gateway configures instances concurrently): the same
	// settings keep the pool and its connections.
	if old != nil && old.named == rp.named && old.host == rp.host && old.port == rp.port && old.username == rp.username &&
		old.password == rp.password && old.timeout == rp.timeout {
		p.redis.mu.Unlock()
		return
	}
	p.redis.pools[name] = rp
	p.redis.mu.Unlock()
	if old != nil {
		old.close()
	}
}

// proxy_redis_init(upstream, len, username, len, password, len, timeout_ms):
// prepares the pool for upstream after checking the destination against the
// plugin's egress policy, as proxy_http_call does: a named upstream must be
// among network.upstreams when that list is given; a literal host:port must
// pass network.allow (a name is resolved here, with dns: true, and every
// address checked). It does not connect: a Redis that is down shows up as
// failed calls. Unknown upstream → BadArgument (Higress's answer for an
// unknown cluster); refused by the policy, or a failed name lookup →
// InternalFailure (kept from before the policy moved to package egress).
func hRedisInit(v *vm, s []uint64) abi.Status {
	upstream, ok1 := v.readString(s[0], s[1])
	username, ok2 := v.readString(s[2], s[3])
	password, ok3 := v.readString(s[4], s[5])
	if !ok1 || !ok2 || !ok3 {
		return abi.StatusInvalidMemoryAccess
	}
	p := v.p
	tg, err := p.target(egress.OpRedisInit, upstream)
	switch {
	case errors.Is(err, egress.ErrRefused):
		return abi.StatusInternalFailure // logged and counted by the policy
	case err != nil:
		return abi.StatusBadArgument
	case tg.host == "" || tg.port < 1 || tg.port > 65535:
		return abi.StatusBadArgument
	}
	timeout := time.Duration(uint32(s[6])) * time.Millisecond
	if timeout <= 0 {
		timeout = redisDefaultTimeout
	}
	if !tg.named {
		ctx, cancel := context.WithTimeout(p.ctx, timeout)
		defer cancel()
		if _, err := p.egress.Resolve(ctx, egress.OpRedisInit, tg.host, tg.port); err != nil {
			if !errors.Is(err, egress.ErrRefused) {
				p.log.Warn("wasm redis_init failed", slog.String("upstream", upstream), slog.String("destination", tg.addr), slog.Any("error", err))
			}
			return abi.StatusInternalFailure
		}
	}
	p.setRedisPool(upstream, &redisPool{
		p: p, eg: p.egress, named: tg.named, upstream: upstream, host: tg.host, port: tg.port,
		username: username, password: password, timeout: timeout,
		sem: make(chan struct{}, redisMaxConns),
	})
	return abi.StatusOK
}

// proxy_redis_call(upstream, len, query, len, *token): sends query (one
// RESP command) on upstream's pool; the answer goes to
// proxy_on_redis_call_response on the calling root context. Upstream not
// initialised, or a query that is not exactly one RESP array of bulk strings,
// or a connection-state command (redisDenied) → BadArgument.
func hRedisCall(v *vm, s []uint64) abi.Status {
	upstream, ok1 := v.readString(s[0], s[1])
	query, ok2 := v.read(s[2], s[3])
	if !ok1 || !ok2 {
		return abi.StatusInvalidMemoryAccess
	}
	if _, ok := v.read(s[4], 4); !ok {
		return abi.StatusInvalidMemoryAccess
	}
	if v.cur == nil {
		return abi.StatusBadArgument
	}
	rp := v.p.redisPool(upstream)
	if rp == nil {
		return abi.StatusBadArgument
	}
	cmd, err := respCommand(query)
	if err != nil || redisDenied[cmd] {
		return abi.StatusBadArgument
	}
	token := v.p.calls.tokens.Add(1)
	if !v.writeU32(s[4], token) {
		return abi.StatusInvalidMemoryAccess
	}
	q := append([]byte(nil), query...)
	r := v.cur.rootOf()
	p, slot, gen := v.p, v.inst.Slot(), v.inst.Gen
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		reply, err := rp.do(q)
		status := uint64(redisStatusOK)
		if err != nil {
			status = redisStatusFailed
			reply = nil
		}
		if err != nil && !errors.Is(err, egress.ErrRefused) { // refusals: logged and counted by the policy
			p.log.Warn("wasm redis_call failed", slog.String("upstream", upstream),
				slog.String("destination", net.JoinHostPort(rp.host, strconv.Itoa(rp.port))), slog.Any("error", err))
		}
		p.onInstance(slot, gen, func(v *vm) {
			if r.deleted || !v.fn.onRedisCallResp.Valid() {
				return
			}
			v.redisResp = &redisReply{data: reply}
			err := v.callCtx(v.fn.onRedisCallResp, r, uint64(r.id), uint64(token), status, uint64(len(reply)))
			v.redisResp = nil
			if err != nil {
				v.trapped(r, "proxy_on_redis_call_response", err)
			}
		})
	}()
	return abi.StatusOK
}

// redisPool is the connection pool of one upstream.
type redisPool struct {
	p                  *Plugin
	eg                 *egress.Checker
	named              bool // an apisix.yaml upstream: dialled as configured
	upstream           string
	host               string
	port               int
	username, password string
	timeout            time.Duration
	sem                chan struct{} // one token per open connection

	mu     sync.Mutex
	idle   []*redisConn
	closed bool
}

type redisConn struct {
	c    net.Conn
	r    *bufio.Reader
	used time.Time
}

func (rp *redisPool) close() {
	rp.mu.Lock()
	rp.closed = true
	idle := rp.idle
	rp.idle = nil
	rp.mu.Unlock()
	for _, c := range idle {
		c.c.Close()
	}
}

// do sends one command and returns the raw reply, within the pool's timeout.
func (rp *redisPool) do(query []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(rp.p.ctx, rp.timeout)
	defer cancel()
	select {
	case rp.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a connection: %w", ctx.Err())
	}
	defer func() { <-rp.sem }()
	c, err := rp.get(ctx)
	if err != nil {
		return nil, err
	}
	reply, err := c.roundTrip(ctx, query)
	if err != nil {
		c.c.Close()
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (timeout %s)", ctx.Err(), rp.timeout)
		}
		return nil, err
	}
	rp.put(c)
	return reply, nil
}

// get returns a live idle connection or dials a new one. A replaced
// (closed) pool still serves the calls already made on it, without keeping
// connections; when the plugin closes, its context ends them.
func (rp *redisPool) get(ctx context.Context) (*redisConn, error) {
	for {
		rp.mu.Lock()
		n := len(rp.idle)
		if n == 0 {
			rp.mu.Unlock()
			break
		}
		c := rp.idle[n-1]
		rp.idle = rp.idle[:n-1]
		rp.mu.Unlock()
		if time.Since(c.used) < redisIdleTimeout && c.alive() {
			return c, nil
		}
		c.c.Close()
	}
	return rp.dial(ctx)
}

func (rp *redisPool) put(c *redisConn) {
	c.used = time.Now()
	rp.mu.Lock()
	if !rp.closed && len(rp.idle) < redisMaxIdle {
		rp.idle = append(rp.idle, c)
		rp.mu.Unlock()
		return
	}
	rp.mu.Unlock()
	c.c.Close()
}

// dial connects and authenticates. A literal destination is checked against
// the policy again (a name may now resolve elsewhere) and only the addresses
// checked are dialled; a named upstream's node is dialled as configured.
func (rp *redisPool) dial(ctx context.Context) (*redisConn, error) {
	addr := net.JoinHostPort(rp.host, strconv.Itoa(rp.port))
	var nc net.Conn
	var err error
	if rp.named {
		var d net.Dialer
		nc, err = d.DialContext(ctx, "tcp", addr)
	} else {
		nc, err = rp.eg.Dial(ctx, egress.OpRedisCall, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	c := &redisConn{c: nc, r: bufio.NewReader(nc)}
	if rp.password != "" {
		args := []string{"AUTH", rp.password}
		if rp.username != "" {
			args = []string{"AUTH", rp.username, rp.password}
		}
		reply, err := c.roundTrip(ctx, respArray(args...))
		if err == nil && (len(reply) == 0 || reply[0] != '+') {
			err = fmt.Errorf("AUTH: %s", bytes.TrimSpace(reply))
		}
		if err != nil {
			nc.Close()
			return nil, err
		}
	}
	return c, nil
}

// alive reports whether an idle connection is still open (no EOF waiting
// and no unsolicited data), without blocking.
func (c *redisConn) alive() bool {
	if c.r.Buffered() > 0 {
		return false
	}
	_ = c.c.SetReadDeadline(time.Now())
	_, err := c.r.Peek(1)
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// roundTrip writes query and reads one reply. Cancelling ctx (its deadline,
// or the plugin closing) interrupts the I/O.
func (c *redisConn) roundTrip(ctx context.Context, query []byte) ([]byte, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.c.SetDeadline(dl)
	} else {
		_ = c.c.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { _ = c.c.SetDeadline(time.Now()) })
	defer stop()
	if _, err := c.c.Write(query); err != nil {
		return nil, err
	}
	return readRESP(c.r, nil, 0)
}

// readRESP appends one complete RESP2/RESP3 value read from r to out, byte
// for byte as sent.
func readRESP(r *bufio.Reader, out []byte, depth int) ([]byte, error) {
	if depth > redisMaxDepth {
		return nil, errors.New("RESP value nested too deeply")
	}
	start := len(out)
	out, err := readLine(r, out)
	if err != nil {
		return nil, err
	}
	line := out[start : len(out)-2]
	if len(line) == 0 {
		return nil, errors.New("RESP: empty line")
	}
	switch line[0] {
	case '+', '-', ':', '_', ',', '#', '(':
		return out, nil
	case '$', '=', '!':
		n, err := strconv.Atoi(string(line[1:]))
		if err != nil || n < -1 {
			return nil, fmt.Errorf("RESP: bad length %q", line)
		}
		if n < 0 {
			return out, nil
		}
		if len(out)+n+2 > maxCallBody {
			return nil, fmt.Errorf("RESP reply larger than %d bytes", maxCallBody)
		}
		off := len(out)
		out = append(out, make([]byte, n+2)...)
		if _, err := io.ReadFull(r, out[off:]); err != nil {
			return nil, err
		}
		if out[len(out)-2] != '\r' || out[len(out)-1] != '\n' {
			return nil, errors.New("RESP: bulk string not terminated by CRLF")
		}
		return out, nil
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(string(line[1:]))
		if err != nil || n < -1 {
			return nil, fmt.Errorf("RESP: bad count %q", line)
		}
		if line[0] == '%' || line[0] == '|' {
			n *= 2
		}
		for i := 0; i < n; i++ {
			if out, err = readRESP(r, out, depth+1); err != nil {
				return nil, err
			}
			if len(out) > maxCallBody {
				return nil, fmt.Errorf("RESP reply larger than %d bytes", maxCallBody)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("RESP: unknown type %q", line[0])
}

// readLine appends one CRLF-terminated line (CRLF included) to out.
func readLine(r *bufio.Reader, out []byte) ([]byte, error) {
	start := len(out)
	for {
		frag, err := r.ReadSlice('\n')
		out = append(out, frag...)
		if len(out)-start > redisMaxLine {
			return nil, errors.New("RESP: line too long")
		}
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			if err == io.EOF && len(out) > start {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	if len(out)-start < 2 || out[len(out)-2] != '\r' {
		return nil, errors.New("RESP: line not terminated by CRLF")
	}
	return out, nil
}

// respCommand checks that q is exactly one RESP array of one or more bulk
// strings and returns its first element (the command) in upper case.
func respCommand(q []byte) (string, error) {
	br := bufio.NewReader(bytes.NewReader(q))
	v, err := readRESP(br, nil, 0)
	if err != nil {
		return "", err
	}
	if len(v) != len(q) {
		return "", errors.New("query holds more than one RESP value")
	}
	// Walk the array: *n\r\n then n bulk strings.
	rest := q
	line, rest, _ := bytes.Cut(rest, []byte("\r\n"))
	if len(line) < 2 || line[0] != '*' {
		return "", errors.New("query is not a RESP array")
	}
	n, err := strconv.Atoi(string(line[1:]))
	if err != nil || n < 1 {
		return "", errors.New("query is an empty RESP array")
	}
	cmd := ""
	for i := 0; i < n; i++ {
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		if len(line) < 2 || line[0] != '$' {
			return "", errors.New("query element is not a bulk string")
		}
		l, err := strconv.Atoi(string(line[1:]))
		if err != nil || l < 0 || l+2 > len(rest) {
			return "", errors.New("query element is not a bulk string")
		}
		if i == 0 {
			cmd = strings.ToUpper(string(rest[:l]))
		}
		rest = rest[l+2:]
	}
	return cmd, nil
}

// respArray encodes a command as a RESP array of bulk strings.
func respArray(args ...string) []byte {
	b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, "\r\n"...)
		b = append(b, a...)
		b = append(b, "\r\n"...)
	}
	return b
}
