//go:build wasip1

// Command guest is the test guest of package sockets: a wasip1 reactor whose
// exported run reads a scenario from its environment and prints the outcome.
// Built by the tests with:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o guest.wasm .
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/heimdallgw/heimdall/sdk/wasinet"
	"github.com/redis/go-redis/v9"
)

func main() {}

//go:wasmexport run
func run() {
	ctx := context.Background()
	var d wasinet.Dialer
	addr := os.Getenv("ADDR")
	switch os.Getenv("MODE") {
	case "http":
		client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
		resp, err := client.Get(os.Getenv("URL"))
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Println("Status:", resp.Status)
		keys := make([]string, 0, len(resp.Header))
		for k := range resp.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Printf("%s: %s\n", k, strings.Join(resp.Header[k], ","))
		}
		fmt.Println(string(body))
	case "redis":
		rdb := redis.NewClient(&redis.Options{Addr: addr, Dialer: d.DialContext, Protocol: 2, DisableIdentity: true})
		defer rdb.Close()
		if err := rdb.Set(ctx, "heimdall-sockets-test", "foobar", 0).Err(); err != nil {
			fmt.Println("error:", err)
			return
		}
		v, err := rdb.Get(ctx, "heimdall-sockets-test").Result()
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println("redis key value:", v)
	case "lookup":
		addrs, err := wasinet.LookupHost(ctx, os.Getenv("HOST"))
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println("addrs:", strings.Join(addrs, " "))
	case "dial":
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		c.Close()
		fmt.Println("ok")
	case "read":
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		defer c.Close()
		if dl := os.Getenv("DEADLINE"); dl != "" {
			t, _ := time.ParseDuration(dl)
			c.SetReadDeadline(time.Now().Add(t))
		}
		_, err = c.Read(make([]byte, 16))
		fmt.Println("error:", err)
	case "sockets":
		n, _ := strconv.Atoi(os.Getenv("N"))
		for i := 0; i < n; i++ {
			if _, err := d.DialContext(ctx, "tcp", addr); err != nil {
				fmt.Printf("dial %d error: %v\n", i+1, err)
				return
			}
		}
		fmt.Println("ok")
	case "bytes":
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		defer c.Close()
		n, _ := strconv.Atoi(os.Getenv("N"))
		w, err := c.Write(make([]byte, n))
		fmt.Printf("wrote %d error: %v\n", w, err)
	case "raw":
		rawScenario(addr)
	default:
		fmt.Println("error: unknown mode")
	}
}
