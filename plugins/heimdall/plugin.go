package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/heimdallgw/heimdall/sdk/proxywasm"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

// config is the plugin conf (JSON).
type config struct {
	// MaxBodyBytes caps how much of each body is kept and logged.
	MaxBodyBytes int `json:"max_body_bytes"`
	// Redact lists header names (case-insensitive) logged as <redacted>.
	Redact []string `json:"redact"`

	redact map[string]bool
}

const redacted = "<redacted>"

func defaultConfig() config {
	return config{MaxBodyBytes: 4096, Redact: []string{"authorization", "cookie"}}
}

// parseConfig reads the plugin conf; empty means defaults, and fields left
// out keep their defaults.
func parseConfig(data []byte) (*config, error) {
	c := defaultConfig()
	if len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, &c); err != nil {
			return nil, fmt.Errorf("invalid conf: %w", err)
		}
	}
	if c.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("invalid conf: max_body_bytes must be >= 0, got %d", c.MaxBodyBytes)
	}
	c.redact = make(map[string]bool, len(c.Redact))
	for _, name := range c.Redact {
		c.redact[strings.ToLower(name)] = true
	}
	return &c, nil
}

type vm struct{ types.DefaultVMContext }

func newVM() *vm { return &vm{} }

func (*vm) NewPluginContext(uint32) types.PluginContext { return &plugin{} }

type plugin struct {
	types.DefaultPluginContext
	conf *config
	line []byte    // a header log line being built; see logHeaders
	free []*stream // streams that are done, for reuse
}

// maxFree bounds the recycled streams a plugin keeps.
const maxFree = 64

func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	data, err := proxywasm.GetPluginConfiguration()
	if err != nil {
		proxywasm.LogCriticalf("heimdall: reading conf: %v", err)
		return types.OnPluginStartStatusFailed
	}
	conf, err := parseConfig(data)
	if err != nil {
		proxywasm.LogErrorf("heimdall: %v", err)
		return types.OnPluginStartStatusFailed
	}
	p.conf = conf
	return types.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(id uint32) types.HttpContext {
	conf := p.conf
	if conf == nil { // host skipped on_configure: behave as with no conf
		conf, _ = parseConfig(nil)
	}
	// Everything this plugin does is info-level logging: when the host would
	// drop it, skip the work (reading headers and bodies) altogether.
	level, err := proxywasm.GetLogLevel()
	quiet := err == nil && level > types.LogLevelInfo
	var s *stream
	if n := len(p.free); n > 0 {
		s = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		s = &stream{plugin: p}
	}
	// A recycled stream keeps the capacity of its body buffers, if small.
	*s = stream{plugin: p, id: id, conf: conf, quiet: quiet,
		req: bodyLog{kept: reuse(s.req.kept)}, resp: bodyLog{kept: reuse(s.resp.kept)}}
	return s
}

func reuse(b []byte) []byte {
	if cap(b) > 64<<10 {
		return nil
	}
	return b[:0]
}

// stream logs one HTTP exchange.
type stream struct {
	types.DefaultHttpContext
	plugin *plugin
	id     uint32
	conf   *config
	// quiet: the host drops info lines, so there is nothing to do.
	quiet bool
	req   bodyLog
	resp  bodyLog
}

// bodyLog keeps the first max bytes of a body and counts the rest.
type bodyLog struct {
	kept   []byte
	total  int
	logged bool
}

func (b *bodyLog) add(chunk []byte, max int) {
	b.total += len(chunk)
	if room := max - len(b.kept); room > 0 {
		b.kept = append(b.kept, chunk[:min(room, len(chunk))]...)
	}
}

// render is what follows the arrow in a #..._body line.
func (b *bodyLog) render() string {
	if b.total > len(b.kept) {
		// Cut a rune split by the limit, so valid UTF-8 stays valid.
		kept := b.kept
		for i := 0; i < utf8.UTFMax && len(kept) > 0 && !utf8.Valid(kept); i++ {
			kept = kept[:len(kept)-1]
		}
		if !utf8.Valid(kept) {
			return fmt.Sprintf("<binary body: %d bytes>", b.total)
		}
		return fmt.Sprintf("%s... <truncated: %d bytes>", kept, b.total)
	}
	if !utf8.Valid(b.kept) {
		return fmt.Sprintf("<binary body: %d bytes>", b.total)
	}
	return string(b.kept)
}

// logHeaders logs "<prefix> <id> <arrow> <name>: <value>" per header. The
// line is built by hand in a reused buffer: through LogInfof every argument
// would be boxed on the heap, five allocations a header.
func (s *stream) logHeaders(prefix, arrow string, headers [][2]string) {
	for _, h := range headers {
		value := h[1]
		if s.conf.redact[strings.ToLower(h[0])] {
			value = redacted
		}
		b := append(s.plugin.line[:0], prefix...)
		b = strconv.AppendUint(append(b, ' '), uint64(s.id), 10)
		b = append(append(append(b, ' '), arrow...), ' ')
		b = append(append(append(b, h[0]...), ": "...), value...)
		s.plugin.line = b
		proxywasm.LogInfo(string(b))
	}
}

func (s *stream) OnHttpRequestHeaders(int, bool) types.Action {
	if s.quiet {
		return types.ActionContinue
	}
	headers, err := proxywasm.GetHttpRequestHeaders()
	if err != nil {
		proxywasm.LogErrorf("heimdall: %d: request headers: %v", s.id, err)
	}
	s.logHeaders("#request_header", "->", headers)
	// APISIX only runs body callbacks for plugins that ask; other hosts may
	// not know the property, which is fine.
	if err := proxywasm.SetProperty([]string{"wasm_process_req_body"}, []byte("true")); err != nil {
		proxywasm.LogDebugf("heimdall: %d: set wasm_process_req_body: %v", s.id, err)
	}
	return types.ActionContinue
}

func (s *stream) OnHttpRequestBody(bodySize int, endOfStream bool) types.Action {
	s.collect(&s.req, types.BufferTypeHttpRequestBody, bodySize)
	if endOfStream {
		s.flush(&s.req, "#request_body", "->")
	}
	return types.ActionContinue
}

func (s *stream) OnHttpRequestTrailers(int) types.Action {
	s.flush(&s.req, "#request_body", "->")
	return types.ActionContinue
}

func (s *stream) OnHttpResponseHeaders(int, bool) types.Action {
	if s.quiet {
		return types.ActionContinue
	}
	// The request body is complete once the response starts.
	s.flush(&s.req, "#request_body", "->")
	headers, err := proxywasm.GetHttpResponseHeaders()
	if err != nil {
		proxywasm.LogErrorf("heimdall: %d: response headers: %v", s.id, err)
	}
	s.logHeaders("#response_header", "<-", headers)
	if err := proxywasm.SetProperty([]string{"wasm_process_resp_body"}, []byte("true")); err != nil {
		proxywasm.LogDebugf("heimdall: %d: set wasm_process_resp_body: %v", s.id, err)
	}
	return types.ActionContinue
}

func (s *stream) OnHttpResponseBody(bodySize int, endOfStream bool) types.Action {
	s.collect(&s.resp, types.BufferTypeHttpResponseBody, bodySize)
	if endOfStream {
		s.flush(&s.resp, "#response_body", "<-")
	}
	return types.ActionContinue
}

func (s *stream) OnHttpResponseTrailers(int) types.Action {
	s.flush(&s.resp, "#response_body", "<-")
	return types.ActionContinue
}

func (s *stream) OnHttpStreamDone() {
	s.flush(&s.req, "#request_body", "->")
	s.flush(&s.resp, "#response_body", "<-")
	// The stream's last callback: the object is free again.
	if p := s.plugin; p != nil && len(p.free) < maxFree {
		p.free = append(p.free, s)
	}
}

// collect reads the chunk the host holds. Each callback returns Continue,
// so the host forwards the chunk and the next callback sees only new bytes.
func (s *stream) collect(b *bodyLog, bt types.BufferType, size int) {
	if size <= 0 || b.logged || s.quiet {
		return
	}
	var chunk []byte
	var err error
	if bt == types.BufferTypeHttpRequestBody {
		chunk, err = proxywasm.GetHttpRequestBody(0, size)
	} else {
		chunk, err = proxywasm.GetHttpResponseBody(0, size)
	}
	if err != nil {
		proxywasm.LogErrorf("heimdall: %d: reading body: %v", s.id, err)
		return
	}
	b.add(chunk, s.conf.MaxBodyBytes)
}

// flush logs a body once, if there was one.
func (s *stream) flush(b *bodyLog, prefix, arrow string) {
	if b.logged || b.total == 0 {
		return
	}
	b.logged = true
	proxywasm.LogInfof("%s %d %s %s", prefix, s.id, arrow, b.render())
	b.kept = b.kept[:0] // the capacity serves the next stream
}
