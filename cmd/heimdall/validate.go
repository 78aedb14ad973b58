package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/plugintool"
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
		if m.Deployment.UsesEtcd() {
			return m, nil, nil // the routes are in etcd
		}
		routesPath = m.Heimdall.APISIXYAML
	}
	r, err := config.LoadRoutes(routesPath, m)
	if err != nil {
		return m, nil, err
	}
	return m, r, nil
}

// cmdValidate checks the configuration files and prints every error; it
// also compiles every wasm plugin and configures it for each route using
// it (on_configure), unless --no-wasm.
func cmdValidate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, c, routes := configFlags("validate", stderr)
	noWasm := fs.Bool("no-wasm", false, "do not compile and configure the wasm plugins (only check that their files exist)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	m, r, err := loadConfig(*c, *routes)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	if *noWasm {
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
	} else {
		// The plugins' own lines (why a conf was rejected) go to stderr.
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		errs := plugintool.ValidatePlugins(ctx, m, r, log, progress(stderr))
		for _, err := range errs {
			fmt.Fprintf(stderr, "%v\n", err)
		}
		if len(errs) > 0 {
			return 1
		}
	}
	what := "compiled and configured"
	if *noWasm {
		what = "not compiled: --no-wasm"
	}
	fmt.Fprintf(stdout, "%s: ok (%d wasm plugins, %s)\n", m.File, len(m.Wasm.Plugins), what)
	if r == nil {
		fmt.Fprintf(stdout, "routes: read from etcd (%s, prefix %s) by `heimdall run`; each object is checked as it is loaded\n",
			strings.Join(m.Deployment.Etcd.Host, ", "), m.Deployment.Etcd.Prefix)
		return 0
	}
	fmt.Fprintf(stdout, "%s: ok (%d routes, %d upstreams)\n", r.File, len(r.Routes), len(r.Upstreams))
	return 0
}
