package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"

	"github.com/valyala/fasthttp"
)

// getBody is what the upstream answers to every GET: a small fixed body.
var getBody = bytes.Repeat([]byte("0123456789abcdef"), 8) // 128 bytes

// cmdUpstream serves the benchmark upstream: GET (any path) answers 200 with
// getBody; POST echoes the request body as application/json (so that the
// jsonmask plugin buffers and rewrites it). It runs until ctx is done.
func cmdUpstream(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("upstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "upstream: %v\n", err)
		return 1
	}
	s := &fasthttp.Server{
		Handler: func(c *fasthttp.RequestCtx) {
			if c.IsPost() {
				c.SetContentType("application/json")
				c.SetBody(c.PostBody())
				return
			}
			c.SetContentType("text/plain")
			c.SetBody(getBody)
		},
		Name:               "bench-upstream",
		MaxRequestBodySize: 16 << 20,
	}
	go func() {
		<-ctx.Done()
		_ = s.Shutdown()
	}()
	if err := s.Serve(ln); err != nil {
		fmt.Fprintf(stderr, "upstream: %v\n", err)
		return 1
	}
	return 0
}
