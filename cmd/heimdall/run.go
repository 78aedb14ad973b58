package main

import (
	"context"
	"fmt"
	"io"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/gateway"
)

// cmdRun starts the gateway and serves until ctx is cancelled (SIGINT or
// SIGTERM), then drains in-flight requests.
func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, c, routes := configFlags("run", stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	m, err := config.LoadMain(*c)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	logs, err := gateway.NewLogs(m, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "heimdall: %v\n", err)
		return 1
	}
	defer logs.Close()
	if err := gateway.Run(ctx, m, logs, gateway.RunOptions{RoutesPath: *routes, Version: version}); err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	return 0
}
