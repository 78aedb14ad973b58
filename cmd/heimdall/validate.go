package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/gateway"
)

// defaultConfig is where run and validate look without -c.
const defaultConfig = "conf/config.yaml"

func configFlags(name string, stderr io.Writer) (*flag.FlagSet, *string, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := fs.String("c", defaultConfig, "path to config.yaml")
	routes := fs.String("routes", "", "path to apisix.yaml (default: heimdall.apisix_yaml from config.yaml, apisix.yaml beside it)")
	return fs, c, routes
}

// loadConfig reads config.yaml and the routes file, honouring -routes.
func loadConfig(mainPath, routesPath string) (*config.Main, *config.Routes, error) {
	m, err := config.LoadMain(mainPath)
	if err != nil {
		return nil, nil, err
	}
	if routesPath == "" {
		routesPath = m.Heimdall.APISIXYAML
	}
	r, err := config.LoadRoutes(routesPath, m)
	if err != nil {
		return m, nil, err
	}
	return m, r, nil
}

// cmdValidate checks the configuration files and prints every error.
func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs, c, routes := configFlags("validate", stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	m, r, err := loadConfig(*c, *routes)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	// The files must exist and compile, as for `run`.
	missing := false
	for i, p := range m.Wasm.Plugins {
		if _, err := os.Stat(p.File); err != nil {
			fmt.Fprintf(stderr, "%s:%d:%d: wasm.plugins[%d].file: cannot read %s (wrong path, or not built yet? `make plugins` builds the bundled ones)\n",
				m.File, p.Line, p.Column, i, p.File)
			missing = true
		}
	}
	if missing {
		return 1
	}
	// Load every plugin as `run` does (compiled through the same cache, so
	// a later run starts faster): a file that is not a proxy-wasm module
	// fails here, named with its config.yaml entry, rather than at start-up.
	// on_configure is not run: it may do network I/O.
	ctx := context.Background()
	gw, err := gateway.New(ctx, m, &gateway.Logs{Error: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	if err := gw.Close(ctx); err != nil {
		fmt.Fprintf(stderr, "releasing plugins: %v\n", err)
	}
	fmt.Fprintf(stdout, "%s: ok (%d wasm plugins)\n%s: ok (%d routes, %d upstreams)\n",
		m.File, len(m.Wasm.Plugins), r.File, len(r.Routes), len(r.Upstreams))
	return 0
}
