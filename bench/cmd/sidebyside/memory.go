package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// idleResult is the RSS growth of a server holding idle keep-alive
// connections.
type idleResult struct {
	Target string `json:"target"`
	Conns  int    `json:"conns"`
	Before int64  `json:"rss_before"`
	After  int64  `json:"rss_after"`
}

// PerThousand is the RSS growth per 1,000 connections in bytes.
func (r idleResult) PerThousand() float64 {
	return float64(r.After-r.Before) / float64(r.Conns) * 1000
}

// idleGrowth opens n connections to t, sends one GET on each (so each is
// an established keep-alive connection that served a request), leaves them
// idle and measures the server's RSS before and after.
func idleGrowth(ctx context.Context, t *target, n int) (idleResult, error) {
	r := idleResult{Target: t.key, Conns: n}
	time.Sleep(time.Second)
	r.Before, _ = t.proc.rss()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	req := []byte("GET / HTTP/1.1\r\nHost: " + t.addr + "\r\n\r\n")
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	for range n {
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		c, err := net.DialTimeout("tcp", t.addr, 2*time.Second)
		if err != nil {
			return r, fmt.Errorf("after %d connections: %w", len(conns), err)
		}
		conns = append(conns, c)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(req); err != nil {
			return r, err
		}
		if err := resp.Read(bufio.NewReaderSize(c, 1024)); err != nil {
			return r, fmt.Errorf("reading response on connection %d: %w", len(conns), err)
		}
		if resp.StatusCode() != 200 {
			return r, fmt.Errorf("status %d", resp.StatusCode())
		}
		_ = c.SetDeadline(time.Time{})
	}
	time.Sleep(2 * time.Second)
	r.After, _ = t.proc.rss()
	return r, nil
}

// instResult is the memory of a plugin's instances, from the RSS of two
// gateways that differ only in the plugin's pool size.
type instResult struct {
	Plugin      string  `json:"plugin"`
	Small       int     `json:"pool_small"`
	Large       int     `json:"pool_large"`
	RSSSmall    int64   `json:"rss_small"`
	RSSLarge    int64   `json:"rss_large"`
	PerInstance float64 `json:"bytes_per_instance"`
}

// instanceMemory starts Heimdall with plugin at pool size 1 and 17, sends
// enough requests for every instance to be created (streams are placed
// round-robin), and divides the RSS difference by 16.
func (e *env) instanceMemory(ctx context.Context, plugin, conf string) (instResult, error) {
	r := instResult{Plugin: plugin, Small: 1, Large: 17}
	for _, pool := range []int{r.Small, r.Large} {
		key := fmt.Sprintf("instances-%s-%d", plugin, pool)
		t, err := e.startTarget(ctx, key, key, &heimdallSpec{name: key, plugin: plugin, conf: conf, poolSize: pool})
		if err != nil {
			return r, err
		}
		for range 2*pool + 2 {
			if st, err := httpGet(t.addr, "/"); err != nil || st != 200 {
				t.proc.stop()
				return r, fmt.Errorf("request: status %d, %v", st, err)
			}
		}
		time.Sleep(time.Second)
		rss, _ := t.proc.rss()
		t.proc.stop()
		if pool == r.Small {
			r.RSSSmall = rss
		} else {
			r.RSSLarge = rss
		}
	}
	r.PerInstance = float64(r.RSSLarge-r.RSSSmall) / float64(r.Large-r.Small)
	return r, nil
}
