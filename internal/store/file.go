// Package store provides configuration snapshots to the gateway. The file
// provider watches the standalone apisix.yaml, validates every change with
// package config and hands each new valid snapshot to a callback; an invalid
// or half-written file never replaces the configuration in use. Other
// providers (etcd) would produce the same Snapshot.
package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/heimdallgw/heimdall/internal/config"
)

// Snapshot is one validated configuration. It is immutable; the store never
// modifies a snapshot after handing it out, so it may cross goroutines.
type Snapshot struct {
	Main   *config.Main
	Routes *config.Routes
	// Version starts at 1 for the first snapshot and grows by one for each
	// snapshot delivered.
	Version uint64
	// Hash is the SHA-256 of the apisix.yaml content the snapshot came from.
	Hash [sha256.Size]byte
}

// DefaultInterval is how often the file provider polls when
// FileOptions.Interval is zero.
const DefaultInterval = time.Second

// racyWindow: a file whose modification time is this close to when it was
// read may change again without a visible change of size or mtime (coarse
// file system timestamps), so it is re-read on the next poll anyway.
const racyWindow = 2 * time.Second

// FileOptions configures a File provider.
type FileOptions struct {
	// Path is the apisix.yaml to watch; default Main.Heimdall.APISIXYAML.
	Path string
	// Interval between polls; default DefaultInterval.
	Interval time.Duration
	// Logger receives reload results and validation errors; nil discards.
	Logger *slog.Logger
	// OnChange is called with every new valid snapshot found by Run, from
	// Run's goroutine; Run waits for it to return before polling again.
	OnChange func(*Snapshot)
}

// File is the standalone-mode provider: it polls apisix.yaml (modification
// time, size, then content hash) and reloads it when its content changes.
// config.yaml is only checked for changes, which are logged: applying them
// needs a restart.
//
// Call Load once to get the initial snapshot, then Run in one goroutine.
type File struct {
	main     *config.Main
	path     string
	interval time.Duration
	log      *slog.Logger
	onChange func(*Snapshot)

	current atomic.Pointer[Snapshot]
	version uint64

	routes watched // apisix.yaml
	conf   watched // config.yaml
	// failed is the hash of the last content that was rejected, so that a
	// bad file is reported once, not on every poll.
	failed    [sha256.Size]byte
	hasFailed bool
	// statErr remembers that a stat failure has been logged.
	statErr bool
}

// watched is what is known about one file from the last poll.
type watched struct {
	size    int64
	modTime time.Time
	read    time.Time // when the content was last read
	hash    [sha256.Size]byte
	known   bool
}

// changed reports whether fi may hold content other than the last read.
func (w *watched) changed(fi os.FileInfo) bool {
	if !w.known || fi.Size() != w.size || !fi.ModTime().Equal(w.modTime) {
		return true
	}
	return w.read.Sub(w.modTime) < racyWindow
}

// NewFile returns a provider for the apisix.yaml that goes with m.
func NewFile(m *config.Main, opts FileOptions) *File {
	f := &File{
		main:     m,
		path:     opts.Path,
		interval: opts.Interval,
		log:      opts.Logger,
		onChange: opts.OnChange,
	}
	if f.path == "" {
		f.path = m.Heimdall.APISIXYAML
	}
	if f.interval <= 0 {
		f.interval = DefaultInterval
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	return f
}

// Path returns the watched apisix.yaml.
func (f *File) Path() string { return f.path }

// Current returns the snapshot in use, or nil before the first valid load.
// It is safe to call from any goroutine.
func (f *File) Current() *Snapshot { return f.current.Load() }

// Load reads and validates apisix.yaml now and makes it the current
// snapshot. It is meant for start-up, where an invalid file must stop the
// gateway: the error is the config package's (config.Errors, or one
// matching config.ErrIncomplete). OnChange is not called.
func (f *File) Load() (*Snapshot, error) {
	f.rememberConf()
	fi, err := os.Stat(f.path)
	if err != nil {
		_, err = config.LoadRoutes(f.path, f.main) // same error format as any other problem
		return nil, err
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		_, err = config.LoadRoutes(f.path, f.main)
		return nil, err
	}
	f.routes.remember(fi, data)
	routes, err := config.ParseRoutes(f.path, data, f.main)
	if err != nil {
		return nil, err
	}
	return f.install(routes, f.routes.hash), nil
}

// Run polls until ctx is done, delivering each new valid snapshot to
// OnChange. It returns nil once ctx is done. If Load was not called, the
// first valid content found is delivered as version 1.
func (f *File) Run(ctx context.Context) error {
	t := time.NewTicker(f.interval)
	defer t.Stop()
	f.poll()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			f.poll()
		}
	}
}

// poll checks both files once.
func (f *File) poll() {
	f.checkConf()

	fi, err := os.Stat(f.path)
	if err != nil {
		if !f.statErr {
			f.log.Error("cannot read routes file; keeping the current configuration", "file", f.path, "error", err)
			f.statErr = true
		}
		f.routes.known = false
		return
	}
	if f.statErr {
		f.log.Info("routes file is readable again", "file", f.path)
		f.statErr = false
	}
	if !f.routes.changed(fi) {
		return
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		f.log.Error("cannot read routes file; keeping the current configuration", "file", f.path, "error", err)
		return
	}
	f.routes.remember(fi, data)
	h := f.routes.hash
	if cur := f.current.Load(); cur != nil && cur.Hash == h {
		f.hasFailed = false
		return
	}
	if f.hasFailed && f.failed == h {
		return
	}

	routes, err := config.ParseRoutes(f.path, data, f.main)
	if err != nil {
		f.failed, f.hasFailed = h, true
		if errors.Is(err, config.ErrIncomplete) {
			// APISIX semantics: no #END yet means the writer is not done.
			f.log.Debug("routes file has no #END line yet; waiting for the writer to finish", "file", f.path)
			return
		}
		var errs config.Errors
		if !errors.As(err, &errs) {
			errs = config.Errors{{File: f.path, Msg: err.Error()}}
		}
		f.log.Error("invalid routes file; keeping the current configuration", "file", f.path, "errors", len(errs))
		for _, e := range errs {
			f.log.Error("config error", "error", e.Error())
		}
		return
	}
	f.hasFailed = false
	s := f.install(routes, h)
	f.log.Info("routes reloaded", "file", f.path, "version", s.Version, "routes", len(routes.Routes), "upstreams", len(routes.Upstreams))
	if f.onChange != nil {
		f.onChange(s)
	}
}

func (f *File) install(routes *config.Routes, h [sha256.Size]byte) *Snapshot {
	f.version++
	s := &Snapshot{Main: f.main, Routes: routes, Version: f.version, Hash: h}
	f.current.Store(s)
	return s
}

func (w *watched) remember(fi os.FileInfo, data []byte) {
	*w = watched{size: fi.Size(), modTime: fi.ModTime(), read: time.Now(), hash: sha256.Sum256(data), known: true}
}

// rememberConf records config.yaml's content as the one in use.
func (f *File) rememberConf() {
	if f.main.File == "" {
		return
	}
	fi, err := os.Stat(f.main.File)
	if err != nil {
		return
	}
	if data, err := os.ReadFile(f.main.File); err == nil {
		f.conf.remember(fi, data)
	}
}

// checkConf logs when config.yaml's content differs from the one loaded at
// start-up. It is not reloaded: listeners, plugins and limits are fixed for
// the life of the process.
func (f *File) checkConf() {
	if f.main.File == "" {
		return
	}
	if !f.conf.known {
		f.rememberConf()
		return
	}
	fi, err := os.Stat(f.main.File)
	if err != nil || !f.conf.changed(fi) {
		return
	}
	data, err := os.ReadFile(f.main.File)
	if err != nil {
		return
	}
	old := f.conf.hash
	f.conf.remember(fi, data)
	if !bytes.Equal(old[:], f.conf.hash[:]) {
		f.log.Warn("config.yaml changed; restart heimdall to apply it (only the routes file is reloaded live)", "file", f.main.File)
	}
}
