package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/heimdallgw/heimdall/internal/plugintool"
)

const pluginUsage = `usage: heimdall plugin <command> [flags]

commands:
  inspect FILE.wasm [--json]   what the plugin imports and exports; whether it loads here (exit 1 if not)
  run FILE.wasm [flags]        run the plugin's whole lifecycle on one request, offline
  test FILE.wasm CASES.yaml    run table-driven cases; exit 1 with a diff on a mismatch
  new NAME [--dir DIR]         scaffold a Go plugin with Heimdall's SDK

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
	if err != nil && !errors.Is(err, plugintool.ErrCannotLoad) {
		fmt.Fprintf(stderr, "heimdall plugin inspect: %v\n", err)
		return 1
	}
	if !r.Loadable {
		fmt.Fprintf(stderr, "%s: cannot load in Heimdall: %s\n", pos[0], r.Problems[0])
		return 1
	}
	return 0
}
