// Package server owns Heimdall's downstream listeners: HTTP/1.1 on
// github.com/valyala/fasthttp and, on TLS listeners, HTTP/2 through
// golang.org/x/net/http2 for connections that negotiate "h2" by ALPN. Both
// engines translate their requests into the engine-neutral model of package
// httpcore (a proxy.Stream) and hand them to one Handler, then stream the
// response body back without buffering it.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"

	"github.com/heimdallgw/heimdall/internal/proxy"
)

// Handler is what the engines call for each request; *proxy.Proxy
// implements it.
type Handler interface {
	NewStream() *proxy.Stream
	Serve(ctx context.Context, s *proxy.Stream)
}

// Config configures a Server. Zero fields take the defaults below.
type Config struct {
	// MaxHeaderSize bounds the request line plus headers; larger requests
	// get 431. Default 32 KiB.
	MaxHeaderSize int
	// MaxHeaderCount bounds the header lines of an HTTP/1.1 request; more
	// get 431. Default 100 (Envoy's max_headers_count).
	MaxHeaderCount int
	// MaxRequestBodySize bounds request bodies; larger ones get 413 (before
	// reading when Content-Length says so, else when the stream crosses
	// it). Zero means unlimited.
	MaxRequestBodySize int64
	// ReadTimeout bounds reading one request's head, from its first byte
	// (nginx's client_header_timeout): a slowloris client gets 408. On
	// HTTP/2 it bounds the whole request body (Go's HTTP/2 server).
	// Default 60s.
	ReadTimeout time.Duration
	// BodyTimeout bounds each wait for HTTP/1.1 request body bytes (nginx's
	// client_body_timeout: between two successive reads, so a long upload
	// that keeps moving is never cut); then 408. Default 60s.
	BodyTimeout time.Duration
	// WriteTimeout bounds writing one response; zero means none, so that
	// long streamed responses are not cut.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle that long. Default 60s.
	IdleTimeout time.Duration
	// TLSConfig is used by ServeTLS; the server adds ALPN "h2" and
	// "http/1.1". See LoadTLS.
	TLSConfig *tls.Config
	// HandshakeTimeout bounds the TLS handshake. Default 10s.
	HandshakeTimeout time.Duration
	// MaxConcurrentStreams per HTTP/2 connection, advertised in SETTINGS;
	// x/net/http2 also counts running handlers against it, which bounds
	// rapid reset (see RATIONALE.md). Default 128 (nginx's
	// http2_max_concurrent_streams).
	MaxConcurrentStreams uint32
	// Concurrency caps simultaneous HTTP/1.1 connections; zero is fasthttp's
	// default (256 Ki).
	Concurrency int
	// ErrorLog receives server errors; nil discards them.
	ErrorLog *slog.Logger
}

// Defaults.
const (
	DefaultMaxHeaderSize    = 32 << 10
	DefaultMaxHeaderCount   = 100
	DefaultReadTimeout      = 60 * time.Second
	DefaultBodyTimeout      = 60 * time.Second
	DefaultIdleTimeout      = 60 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultMaxConcurrentStreams is nginx's http2_max_concurrent_streams.
	DefaultMaxConcurrentStreams = 128
)

// LoadTLS reads a PEM certificate chain and key into a tls.Config.
func LoadTLS(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading TLS certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// Server serves HTTP/1.1 on plain listeners and HTTP/1.1 plus HTTP/2 on TLS
// listeners. Serve and ServeTLS may be called for several listeners.
type Server struct {
	cfg Config
	h   Handler
	log *slog.Logger

	fast *fasthttp.Server
	h2   *http2.Server
	h2hs *http.Server
	tls  *tls.Config

	// base is the context of requests; cancelled when Shutdown gives up.
	base   context.Context
	cancel context.CancelFunc

	mu sync.Mutex
	// listeners are the TLS listeners; fasthttp closes the plain ones.
	listeners map[net.Listener]struct{}
	h2conns   map[net.Conn]struct{}
	h2wg      sync.WaitGroup
	fastwg    sync.WaitGroup
	closing   atomic.Bool
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("server: closed")

// New returns a Server that sends requests to h.
func New(cfg Config, h Handler) *Server {
	if cfg.MaxHeaderSize <= 0 {
		cfg.MaxHeaderSize = DefaultMaxHeaderSize
	}
	if cfg.MaxHeaderCount <= 0 {
		cfg.MaxHeaderCount = DefaultMaxHeaderCount
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = DefaultBodyTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.MaxConcurrentStreams == 0 {
		cfg.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	s := &Server{cfg: cfg, h: h, log: cfg.ErrorLog,
		listeners: map[net.Listener]struct{}{}, h2conns: map[net.Conn]struct{}{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.base, s.cancel = context.WithCancel(context.Background())
	s.fast = &fasthttp.Server{
		Handler:                       s.serveFast,
		ErrorHandler:                  s.fastError,
		StreamRequestBody:             true,
		DisablePreParseMultipartForm:  true,
		DisableHeaderNamesNormalizing: true,
		NoDefaultServerHeader:         true,
		// Error messages without the request bytes (they may hold
		// credentials); fastError logs a redacted summary instead.
		SecureErrorLogMessage: true,
		NoDefaultContentType:  true,
		ReadBufferSize:        cfg.MaxHeaderSize,
		// With StreamRequestBody fasthttp only pre-reads up to 8 KiB; the
		// limit is enforced by the handler (413), so fasthttp must not
		// reject anything itself.
		MaxRequestBodySize: 1<<62 - 1,
		ReadTimeout:        cfg.ReadTimeout,
		WriteTimeout:       cfg.WriteTimeout,
		IdleTimeout:        cfg.IdleTimeout,
		Concurrency:        cfg.Concurrency,
		CloseOnShutdown:    true,
		Logger:             slogPrinter{s.log},
		// Nothing reads RequestCtx.Time (the proxy keeps its own start
		// time): do not read the clock for it on every request.
		LazyRequestTime: true,
	}
	s.h2 = &http2.Server{
		MaxConcurrentStreams: cfg.MaxConcurrentStreams,
		IdleTimeout:          cfg.IdleTimeout,
	}
	s.h2hs = &http.Server{
		MaxHeaderBytes: cfg.MaxHeaderSize,
		ReadTimeout:    cfg.ReadTimeout,
		WriteTimeout:   cfg.WriteTimeout,
		IdleTimeout:    cfg.IdleTimeout,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if err := http2.ConfigureServer(s.h2hs, s.h2); err != nil {
		panic(err) // only fails on invalid TLS cipher configuration, which we do not set
	}
	if cfg.TLSConfig != nil {
		s.tls = cfg.TLSConfig.Clone()
		s.tls.NextProtos = []string{"h2", "http/1.1"}
	}
	return s
}

// ListenAndServe listens on addr (TCP) and serves HTTP/1.1.
func (s *Server) ListenAndServe(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// ListenAndServeTLS listens on addr and serves TLS with HTTP/2 and HTTP/1.1.
func (s *Server) ListenAndServeTLS(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.ServeTLS(l)
}

// Serve serves HTTP/1.1 on l until Shutdown. It returns ErrServerClosed
// after Shutdown.
func (s *Server) Serve(l net.Listener) error {
	if s.closing.Load() {
		l.Close()
		return ErrServerClosed
	}
	err := s.fast.Serve(&plainListener{Listener: l, dl: newDeadlines(&s.cfg), maxHeaders: s.cfg.MaxHeaderCount})
	if s.closing.Load() {
		return ErrServerClosed
	}
	return err
}

// ServeTLS serves TLS on l: connections that negotiate "h2" are served by
// HTTP/2, the others by HTTP/1.1. Config.TLSConfig must be set.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.tls == nil {
		return errors.New("server: ServeTLS without a TLS configuration")
	}
	if !s.track(l) {
		l.Close()
		return ErrServerClosed
	}
	ch := newChanListener(l.Addr())
	done := make(chan error, 1)
	s.fastwg.Add(1)
	go func() {
		defer s.fastwg.Done()
		done <- s.fast.Serve(ch)
	}()
	err := s.acceptTLS(l, ch)
	ch.Close()
	<-done
	if s.closing.Load() {
		return ErrServerClosed
	}
	return err
}

func (s *Server) track(l net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.listeners[l] = struct{}{}
	return true
}

// Shutdown stops accepting connections, lets in-flight requests finish and
// closes idle connections. When ctx ends first, the remaining connections
// are closed and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.mu.Lock()
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()

	errc := make(chan error, 1)
	go func() { errc <- s.fast.ShutdownWithContext(ctx) }()
	// GOAWAY to every HTTP/2 connection; each ends when its streams are done.
	s.h2hs.Shutdown(ctx) //nolint:errcheck // serves no listener itself
	h2done := make(chan struct{})
	go func() { s.h2wg.Wait(); close(h2done) }()

	var err error
	select {
	case <-h2done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if ferr := <-errc; ferr != nil && err == nil {
		err = ferr
	}
	if err != nil {
		s.cancel()
		s.mu.Lock()
		for c := range s.h2conns {
			c.Close()
		}
		s.mu.Unlock()
	}
	s.fastwg.Wait()
	return err
}

type slogPrinter struct{ l *slog.Logger }

// Printf logs fasthttp's messages. A connection's failure was already
// answered and logged (redacted) by fastError, so it goes to the debug
// level, with quoted parts elided as there.
func (p slogPrinter) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if strings.HasPrefix(format, "error when serving connection") {
		p.l.Debug(redactQuoted(msg))
		return
	}
	p.l.Warn(redactQuoted(msg))
}
