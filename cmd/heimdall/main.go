// Command heimdall is an API gateway that reads APISIX standalone
// configuration and runs proxy-wasm plugins.
//
//	heimdall run      [-c conf/config.yaml]     start the gateway
//	heimdall validate [-c conf/config.yaml]     check the configuration and exit
//	heimdall plugin   inspect|run|test|new      the plugin author's toolkit
//	heimdall httpbin  [--listen 127.0.0.1:8080] serve httpbin as a demo upstream
//	heimdall admin    routes|upstreams <verb>   Admin API client (cluster mode)
//	heimdall config   push|dump                 apisix.yaml ↔ etcd
//	heimdall version                            print the version
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: heimdall <command> [flags]

commands:
  run       start the gateway (-c conf/config.yaml)
  validate  check config.yaml and apisix.yaml, print every error, exit 1 on errors
  plugin    inspect, run, test or scaffold a wasm plugin ('heimdall plugin -h')
  httpbin   serve httpbin as a demo upstream (--listen 127.0.0.1:8080)
  admin     Admin API client: admin routes|upstreams list|get|put|post|patch|delete
  config    config push apisix.yaml (standalone file → etcd), config dump (etcd → apisix.yaml)
  version   print the version

Run 'heimdall <command> -h' for the flags of a command.
`

// run is main without the process: it returns the exit code, so tests can
// drive every subcommand in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:], stdout, stderr)
	case "validate":
		return cmdValidate(ctx, args[1:], stdout, stderr)
	case "plugin":
		return cmdPlugin(ctx, args[1:], stdout, stderr)
	case "httpbin":
		return cmdHTTPBin(ctx, args[1:], stdout, stderr)
	case "config":
		return cmdConfig(ctx, args[1:], stdout, stderr)
	case "admin":
		return cmdAdmin(ctx, args[1:], os.Stdin, stdout, stderr)
	case "version", "-v", "--version":
		fmt.Fprintf(stdout, "heimdall %s\n", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "heimdall: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
