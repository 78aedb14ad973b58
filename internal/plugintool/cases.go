package plugintool

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Cases is a CASES.yaml file: table-driven tests of one plugin, runnable
// in CI without Go (`heimdall plugin test FILE.wasm CASES.yaml`).
//
//	conf: {"keys": ["k1"]}         # default plugin conf: a string, or YAML/JSON (JSON-encoded)
//	cases:
//	  - name: missing key
//	    conf: ...                    # optional, replaces the default
//	    request: |                   # an HTTP/1.1 request (default GET /)
//	      GET /r HTTP/1.1
//	      Host: example.com
//	    response: |                  # the canned upstream response (default 200, empty)
//	      HTTP/1.1 200 OK
//	    expect:
//	      status: 401                # of the response the client gets
//	      headers: {www-authenticate: ApiKey header="x-api-key"}
//	      absent_headers: [server]
//	      body: '{"message":"missing API key"}'   # exact (a trailing newline is ignored)
//	      body_contains: missing
//	      upstream: false            # did the request reach the upstream
//	      upstream_headers: {x-env: prod}
//	      upstream_body: ...
//	      log: ["rejected with 401"] # each a substring of some plugin log line
//	      trap: false
//	    golden: testdata/missing-key.golden   # the whole run output (normalised), relative to this file
type Cases struct {
	file  string
	Conf  []byte
	Cases []Case
}

// Case is one case.
type Case struct {
	Name     string
	Line     int
	Conf     []byte
	HasConf  bool
	Request  string
	Response string
	Expect   Expect
	Golden   string
}

// Expect are a case's checks; unset fields are not checked.
type Expect struct {
	Status          int               `yaml:"status"`
	Headers         map[string]string `yaml:"headers"`
	AbsentHeaders   []string          `yaml:"absent_headers"`
	Body            *string           `yaml:"body"`
	BodyContains    string            `yaml:"body_contains"`
	Upstream        *bool             `yaml:"upstream"`
	UpstreamHeaders map[string]string `yaml:"upstream_headers"`
	UpstreamBody    *string           `yaml:"upstream_body"`
	Log             []string          `yaml:"log"`
	Trap            *bool             `yaml:"trap"`
}

// LoadCases reads and checks a CASES.yaml file.
func LoadCases(file string) (*Cases, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:1:1: want a mapping with conf and cases", file)
	}
	cs := &Cases{file: file}
	top := root.Content[0]
	var casesNode *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		switch k.Value {
		case "conf":
			if cs.Conf, err = confOf(v); err != nil {
				return nil, fmt.Errorf("%s:%d:%d: conf: %w", file, v.Line, v.Column, err)
			}
		case "cases":
			casesNode = v
		default:
			return nil, fmt.Errorf("%s:%d:%d: unknown field %q; allowed: conf, cases", file, k.Line, k.Column, k.Value)
		}
	}
	if casesNode == nil || casesNode.Kind != yaml.SequenceNode || len(casesNode.Content) == 0 {
		return nil, fmt.Errorf("%s: no cases (want cases: [ {name, request, expect}, ... ])", file)
	}
	seen := map[string]int{}
	for i, n := range casesNode.Content {
		c, err := caseOf(n)
		if err != nil {
			return nil, fmt.Errorf("%s:%d:%d: cases[%d]: %w", file, n.Line, n.Column, i, err)
		}
		if c.Name == "" {
			c.Name = fmt.Sprintf("case %d", i+1)
		}
		if l, dup := seen[c.Name]; dup {
			return nil, fmt.Errorf("%s:%d:%d: cases[%d]: name %q already used at line %d", file, n.Line, n.Column, i, c.Name, l)
		}
		seen[c.Name] = n.Line
		cs.Cases = append(cs.Cases, c)
	}
	return cs, nil
}

func confOf(v *yaml.Node) ([]byte, error) {
	if v.Kind == yaml.ScalarNode {
		return []byte(v.Value), nil
	}
	var x any
	if err := v.Decode(&x); err != nil {
		return nil, err
	}
	return json.Marshal(x)
}

func caseOf(n *yaml.Node) (Case, error) {
	c := Case{Line: n.Line}
	if n.Kind != yaml.MappingNode {
		return c, fmt.Errorf("want a mapping (name, request, response, expect)")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var err error
		switch k.Value {
		case "name":
			c.Name = v.Value
		case "conf":
			c.Conf, err = confOf(v)
			c.HasConf = true
		case "request":
			c.Request = v.Value
		case "response":
			c.Response = v.Value
		case "golden":
			c.Golden = v.Value
		case "expect":
			var buf bytes.Buffer
			enc := yaml.NewEncoder(&buf)
			if err = enc.Encode(v); err == nil {
				dec := yaml.NewDecoder(&buf)
				dec.KnownFields(true)
				err = dec.Decode(&c.Expect)
			}
			if err != nil {
				err = fmt.Errorf("expect (line %d): %w; allowed: status, headers, absent_headers, body, body_contains, upstream, upstream_headers, upstream_body, log, trap", v.Line, err)
			}
		default:
			err = fmt.Errorf("unknown field %q (line %d); allowed: name, conf, request, response, expect, golden", k.Value, k.Line)
		}
		if err != nil {
			return c, err
		}
	}
	return c, nil
}

// TestOptions tune RunCases.
type TestOptions struct {
	// Update rewrites golden files instead of comparing.
	Update bool
}

// RunCases runs every case on r and writes one line per case (and the
// differences of a failed one) to w. It returns the number of failures.
func RunCases(ctx context.Context, r *Runner, cs *Cases, o TestOptions, w io.Writer) (failed int, err error) {
	for _, c := range cs.Cases {
		ro := RunOptions{Conf: cs.Conf}
		if c.HasConf {
			ro.Conf = c.Conf
		}
		if c.Request != "" {
			ro.Requests = [][]byte{[]byte(c.Request)}
			ro.RequestNames = []string{fmt.Sprintf("%s:%d: case %q: request", cs.file, c.Line, c.Name)}
		}
		if c.Response != "" {
			ro.Response = []byte(c.Response)
		}
		res, err := r.Run(ctx, ro)
		if err != nil {
			return failed, fmt.Errorf("%s:%d: case %q: %w", cs.file, c.Line, c.Name, err)
		}
		problems := check(c.Expect, res)
		if c.Golden != "" {
			var out bytes.Buffer
			res.Write(&out)
			got := NormaliseOutput(out.String())
			path := c.Golden
			if !filepath.IsAbs(path) {
				path = filepath.Join(filepath.Dir(cs.file), path)
			}
			if o.Update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					return failed, err
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					return failed, err
				}
			} else if want, err := os.ReadFile(path); err != nil {
				problems = append(problems, fmt.Sprintf("golden %s: %v (heimdall plugin test --update writes it)", c.Golden, err))
			} else if string(want) != got {
				problems = append(problems, "output differs from "+c.Golden+" (- golden, + now):\n"+indent(Diff(string(want), got), "    "))
			}
		}
		if len(problems) == 0 {
			fmt.Fprintf(w, "ok    %s\n", c.Name)
			continue
		}
		failed++
		fmt.Fprintf(w, "FAIL  %s (%s:%d)\n", c.Name, cs.file, c.Line)
		for _, p := range problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	return failed, nil
}

func indent(s, pre string) string {
	s = strings.TrimRight(s, "\n")
	return pre + strings.ReplaceAll(s, "\n", "\n"+pre)
}

// check compares a run with a case's expectations.
func check(e Expect, r *RunResult) []string {
	var out []string
	if len(r.Exchanges) == 0 {
		if r.Trap != "" && (e.Trap == nil || !*e.Trap) {
			return []string{"trap: " + r.Trap}
		}
		if e.Trap != nil && *e.Trap && r.Trap != "" {
			return nil
		}
		return []string{"no response"}
	}
	x := r.Exchanges[0]
	resp, body, err := parseResponse(x.Response)
	if err != nil {
		return []string{"response: " + err.Error()}
	}
	if e.Status != 0 && resp.StatusCode != e.Status {
		out = append(out, fmt.Sprintf("status: got %d, want %d", resp.StatusCode, e.Status))
	}
	out = append(out, checkHeaders("header", resp.Header, e.Headers)...)
	for _, h := range e.AbsentHeaders {
		if v, ok := resp.Header[http.CanonicalHeaderKey(h)]; ok {
			out = append(out, fmt.Sprintf("header %s: got %q, want it absent", h, strings.Join(v, ", ")))
		}
	}
	if e.Body != nil && strings.TrimSuffix(string(body), "\n") != strings.TrimSuffix(*e.Body, "\n") {
		out = append(out, "body differs (- want, + got):\n"+indent(Diff(strings.TrimSuffix(*e.Body, "\n"), strings.TrimSuffix(string(body), "\n")), "    "))
	}
	if e.BodyContains != "" && !strings.Contains(string(body), e.BodyContains) {
		out = append(out, fmt.Sprintf("body: %q does not contain %q", body, e.BodyContains))
	}
	if e.Upstream != nil && *e.Upstream != (x.Upstream != nil) {
		out = append(out, fmt.Sprintf("upstream: the request reached it: %v, want %v", x.Upstream != nil, *e.Upstream))
	}
	if len(e.UpstreamHeaders) > 0 || e.UpstreamBody != nil {
		if x.Upstream == nil {
			out = append(out, "upstream_headers/upstream_body: the request did not reach the upstream")
		} else if req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(x.Upstream))); err != nil {
			out = append(out, "upstream request: "+err.Error())
		} else {
			out = append(out, checkHeaders("upstream header", req.Header, e.UpstreamHeaders)...)
			ub, _ := io.ReadAll(req.Body)
			if e.UpstreamBody != nil && strings.TrimSuffix(string(ub), "\n") != strings.TrimSuffix(*e.UpstreamBody, "\n") {
				out = append(out, "upstream body differs (- want, + got):\n"+indent(Diff(strings.TrimSuffix(*e.UpstreamBody, "\n"), strings.TrimSuffix(string(ub), "\n")), "    "))
			}
		}
	}
	logs := strings.Join(r.Events, "\n")
	for _, l := range e.Log {
		if !strings.Contains(logs, l) {
			out = append(out, fmt.Sprintf("log: no line contains %q; the log:\n%s", l, indent(logs, "    ")))
		}
	}
	trapped := r.Trap != ""
	switch {
	case e.Trap != nil && *e.Trap != trapped:
		out = append(out, fmt.Sprintf("trap: got %v (%s), want %v", trapped, r.Trap, *e.Trap))
	case e.Trap == nil && trapped:
		out = append(out, "trap: "+r.Trap)
	}
	return out
}

func checkHeaders(what string, h http.Header, want map[string]string) []string {
	var out []string
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		got, ok := h[http.CanonicalHeaderKey(k)]
		if !ok {
			if got, ok = h[k]; !ok {
				out = append(out, fmt.Sprintf("%s %s: absent, want %q", what, k, want[k]))
				continue
			}
		}
		if strings.Join(got, ", ") != want[k] {
			out = append(out, fmt.Sprintf("%s %s: got %q, want %q", what, k, strings.Join(got, ", "), want[k]))
		}
	}
	return out
}

func parseResponse(raw []byte) (*http.Response, []byte, error) {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// outputVolatile are the parts of a run's output that differ between runs
// of the same plugin: ports, dates, durations, started traces. Golden files hold the rest.
var outputVolatile = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`(?i)(x-forwarded-port"?:? "?)\d+`), "${1}PORT"},
	{regexp.MustCompile(`127\.0\.0\.1:\d+`), "127.0.0.1:PORT"},
	{regexp.MustCompile(`(?m)^Date: .*$`), "Date: DATE"},
	// The trace the gateway starts for a request without one (tracectx).
	{regexp.MustCompile(`(?i)(traceparent"?:? "?)00-[0-9a-f]{32}-[0-9a-f]{16}-00`), "${1}TRACEPARENT"},
	{regexp.MustCompile(`\(\d+(\.\d+)?(ns|µs|ms|s)\)`), "(D)"},
}

// NormaliseOutput replaces what differs between runs (ports, dates,
// durations) with placeholders, for golden files.
func NormaliseOutput(s string) string {
	for _, v := range outputVolatile {
		s = v.re.ReplaceAllString(s, v.repl)
	}
	return s
}
