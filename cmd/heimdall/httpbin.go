package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

// cmdHTTPBin serves go-httpbin, the demo and test upstream.
func cmdHTTPBin(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("httpbin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "heimdall httpbin: %v\n", err)
		return 1
	}
	srv := &http.Server{
		Handler:           httpbin.New(httpbin.WithMaxBodySize(256 << 20)),
		ReadHeaderTimeout: 10 * time.Second,
	}
	fmt.Fprintf(stdout, "httpbin listening on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		fmt.Fprintf(stderr, "heimdall httpbin: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "heimdall httpbin: shutdown: %v\n", err)
		return 1
	}
	return 0
}
