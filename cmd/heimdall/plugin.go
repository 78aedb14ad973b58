package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/heimdallgw/heimdall/internal/plugintool"
)

const pluginUsage = `usage: heimdall plugin <command> [flags]

commands:
  inspect FILE.wasm [--json]   what the plugin imports and exports; whether it loads here (exit 1 if not)
  run FILE.wasm [flags]        run the plugin's whole lifecycle on one request, offline
  test FILE.wasm CASES.yaml    run table-driven cases; exit 1 with a diff on a mismatch
  new NAME [--dir DIR]         scaffold a Go plugin with Heimdall's SDK (main.go, a proxytest test, README, CASES.yaml, Makefile)

Run 'heimdall plugin <command> -h' for the flags of a command.
`

func cmdPlugin(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, pluginUsage)
		return 2
	}
	switch args[0] {
	case "inspect":
		return cmdPluginInspect(ctx, args[1:], stdout, stderr)
	case "run":
		return cmdPluginRun(ctx, args[1:], stdout, stderr)
	case "test":
		return cmdPluginTest(ctx, args[1:], stdout, stderr)
	case "new":
		return cmdPluginNew(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, pluginUsage)
		return 0
	}
	fmt.Fprintf(stderr, "heimdall plugin: unknown command %q\n\n%s", args[0], pluginUsage)
	return 2
}

// parseInterspersed parses flags that may come after positional arguments
// (heimdall plugin inspect FILE --json), returning the positionals.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func cmdPluginInspect(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plugin inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: heimdall plugin inspect FILE.wasm [--json]")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fs.Usage()
		return 2
	}
	wasm, err := os.ReadFile(pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "heimdall plugin inspect: %v\n", err)
		return 1
	}
	r, err := plugintool.Inspect(ctx, pos[0], wasm)
	if err != nil {
		fmt.Fprintf(stderr, "heimdall plugin inspect: %v\n", err)
		return 1
	}
	if *asJSON {
		err = r.WriteJSON(stdout)
	} else {
		err = r.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "heimdall plugin inspect: %v\n", err)
		return 1
	}
	if !r.Loadable {
		fmt.Fprintf(stderr, "%s: cannot load in Heimdall: %s\n", pos[0], r.Problems[0])
		return 1
	}
	return 0
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ", ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// readArg is a flag value that is either the text itself or @file.
func readArg(v string) ([]byte, error) {
	if name, ok := strings.CutPrefix(v, "@"); ok {
		return os.ReadFile(name)
	}
	return []byte(v), nil
}

func cmdPluginRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plugin run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conf := fs.String("conf", "", "plugin configuration: the text, or @file")
	var requests, headers, network stringList
	fs.Var(&requests, "request", "HTTP/1.1 request message file (repeatable: requests run in order)")
	method := fs.String("X", "", "request method (without --request; default GET, POST with -d)")
	fs.Var(&headers, "H", "request header 'Name: value' (repeatable; without --request)")
	data := fs.String("d", "", "request body: the text, or @file (without --request)")
	response := fs.String("response", "", "canned upstream response: an HTTP/1.1 message file")
	upstreamURL := fs.String("upstream", "", "a real upstream (http://host:port or https://host:port) instead of --response")
	fs.Var(&network, "network", "socket allow-list entry for the plugin, as config.yaml network.allow (repeatable or comma-separated)")
	ticks := fs.Int("ticks", 0, "wait for this many proxy_on_tick calls after the requests")
	trace := fs.Bool("trace", false, "print every env host call (decoded) and every callback (with its duration)")
	traceWASI := fs.Bool("trace-wasi", false, "with --trace, also the WASI and socket calls (raw arguments and errno)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: heimdall plugin run FILE.wasm [--conf STRING|@file] [--request req.http | -X M -H 'K: V' -d BODY [PATH]] [--response resp.http | --upstream URL] [--network allow-list] [--ticks N] [--trace [--trace-wasi]]")
		fmt.Fprintln(stderr, "exit status: 0 the request reached the upstream; 1 a callback trapped (or the run failed); 3 the plugin answered locally")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) < 1 || len(pos) > 2 {
		fs.Usage()
		return 2
	}
	o := plugintool.RunOptions{File: pos[0], Ticks: *ticks, Trace: *trace, TraceWASI: *traceWASI, LogLevel: -4}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "heimdall plugin run: %v\n", err)
		return 1
	}
	if o.Wasm, err = os.ReadFile(pos[0]); err != nil {
		return fail(err)
	}
	if *conf != "" {
		if o.Conf, err = readArg(*conf); err != nil {
			return fail(fmt.Errorf("--conf: %w", err))
		}
	}
	switch {
	case len(requests) > 0:
		if *method != "" || len(headers) > 0 || *data != "" || len(pos) > 1 {
			return fail(fmt.Errorf("--request and -X/-H/-d/PATH exclude each other"))
		}
		for _, r := range requests {
			b, err := os.ReadFile(r)
			if err != nil {
				return fail(fmt.Errorf("--request: %w", err))
			}
			o.Requests = append(o.Requests, b)
			o.RequestNames = append(o.RequestNames, r)
		}
	default:
		path := "/"
		if len(pos) > 1 {
			path = pos[1]
		}
		var body []byte
		if *data != "" {
			if body, err = readArg(*data); err != nil {
				return fail(fmt.Errorf("-d: %w", err))
			}
		}
		rq, err := plugintool.BuildRequest(*method, path, headers, body)
		if err != nil {
			return fail(err)
		}
		o.Requests = [][]byte{rq}
	}
	if *response != "" && *upstreamURL != "" {
		return fail(fmt.Errorf("--response and --upstream exclude each other"))
	}
	if *response != "" {
		if o.Response, err = os.ReadFile(*response); err != nil {
			return fail(fmt.Errorf("--response: %w", err))
		}
	}
	o.Upstream = *upstreamURL
	for _, n := range network {
		for _, e := range strings.Split(n, ",") {
			if e = strings.TrimSpace(e); e != "" {
				o.Network = append(o.Network, e)
			}
		}
	}
	o.Progress = progress(stderr)
	r, err := plugintool.Run(ctx, o)
	if err != nil {
		return fail(err)
	}
	r.Write(stdout)
	return r.ExitCode()
}

func cmdPluginTest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plugin test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	update := fs.Bool("update", false, "rewrite the cases' golden files instead of comparing")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: heimdall plugin test FILE.wasm CASES.yaml [--update]")
		fmt.Fprintln(stderr, "exit status: 0 every case passed; 1 a case failed (the differences are printed) or the run failed")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 2 {
		fs.Usage()
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "heimdall plugin test: %v\n", err)
		return 1
	}
	cs, err := plugintool.LoadCases(pos[1])
	if err != nil {
		return fail(err)
	}
	wasm, err := os.ReadFile(pos[0])
	if err != nil {
		return fail(err)
	}
	r, err := plugintool.Load(ctx, plugintool.RunOptions{File: pos[0], Wasm: wasm, LogLevel: -4, Progress: progress(stderr)})
	if err != nil {
		return fail(err)
	}
	defer r.Close(ctx)
	failed, err := plugintool.RunCases(ctx, r, cs, plugintool.TestOptions{Update: *update}, stdout)
	if err != nil {
		return fail(err)
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "FAIL: %d of %d cases\n", failed, len(cs.Cases))
		return 1
	}
	fmt.Fprintf(stdout, "PASS: %d cases\n", len(cs.Cases))
	return 0
}

func cmdPluginNew(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plugin new", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "where to write the plugin (default ./NAME)")
	sdk := fs.String("sdk", "", "a Heimdall checkout, for go.mod's replace directive (outside Heimdall's module)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: heimdall plugin new NAME [--dir DIR] [--sdk HEIMDALL_CHECKOUT]")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fs.Usage()
		return 2
	}
	files, err := plugintool.New(plugintool.NewOptions{Name: pos[0], Dir: *dir, SDK: *sdk})
	if err != nil {
		fmt.Fprintf(stderr, "heimdall plugin new: %v\n", err)
		return 1
	}
	for _, f := range files {
		fmt.Fprintf(stdout, "wrote %s\n", f)
	}
	d := *dir
	if d == "" {
		d = pos[0]
	}
	fmt.Fprintf(stdout, "\nnext: cd %s && make && heimdall plugin run %s.wasm --trace /\n", d, pos[0])
	return 0
}
