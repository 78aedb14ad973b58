// Command heimdall-pprof is `heimdall run` with an opt-in pprof listener,
// for profiling the gateway under load (bench/profile.sh, or
// `sidebyside -profile`). It is not the production binary: cmd/heimdall has
// no debug listener.
//
//	HEIMDALL_PPROF=127.0.0.1:6060 heimdall-pprof run -c conf/config.yaml
//	go tool pprof -top 'http://127.0.0.1:6060/debug/pprof/profile?seconds=10'
//
// Without HEIMDALL_PPROF it behaves as `heimdall run`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/gateway"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "version" {
		fmt.Fprintln(stdout, "heimdall-pprof")
		return 0
	}
	if len(args) > 0 && args[0] == "run" {
		args = args[1:]
	}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := fs.String("c", "conf/config.yaml", "config.yaml")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	m, err := config.LoadMain(*c)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	logs, err := gateway.NewLogs(m, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "heimdall-pprof: %v\n", err)
		return 1
	}
	defer logs.Close()
	if addr := os.Getenv("HEIMDALL_PPROF"); addr != "" {
		srv, err := servePprof(addr)
		if err != nil {
			fmt.Fprintf(stderr, "heimdall-pprof: %v\n", err)
			return 1
		}
		defer srv.Close()
	}
	if err := gateway.Run(ctx, m, logs, gateway.RunOptions{}); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// servePprof serves the net/http/pprof handlers on addr with their own mux
// (not http.DefaultServeMux).
func servePprof(addr string) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "heimdall-pprof: %v\n", err)
		}
	}()
	return srv, nil
}
