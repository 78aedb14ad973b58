package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/heimdallgw/heimdall/internal/config"
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
	// The files must exist for `run`; compiling them is left to `run`.
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
	fmt.Fprintf(stdout, "%s: ok (%d wasm plugins)\n", m.File, len(m.Wasm.Plugins))
	if r == nil {
		fmt.Fprintf(stdout, "routes: read from etcd (%s, prefix %s) by `heimdall run`; each object is checked as it is loaded\n",
			strings.Join(m.Deployment.Etcd.Host, ", "), m.Deployment.Etcd.Prefix)
		return 0
	}
	fmt.Fprintf(stdout, "%s: ok (%d routes, %d upstreams)\n", r.File, len(r.Routes), len(r.Upstreams))
	return 0
}
