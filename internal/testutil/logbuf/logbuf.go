// Package logbuf is a goroutine-safe log sink for tests: the gateway, the
// wasm host and the socket extension log from many goroutines while a test
// reads what they wrote.
package logbuf

import (
	"bytes"
	"sync"
)

// Buffer is an io.Writer, safe for concurrent use, that keeps everything
// written to it. The zero value is ready to use.
type Buffer struct {
	// Keep, when set before the first Write, decides which records (lines;
	// a write may carry several, as the buffered access log does) are
	// kept; the others are only counted (see Dropped).
	Keep func(record []byte) bool

	mu      sync.Mutex
	buf     bytes.Buffer
	dropped int
}

// Write keeps p (unless Keep rejects it).
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Keep == nil {
		return b.buf.Write(p)
	}
	for rest := p; len(rest) > 0; {
		rec := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			rec, rest = rest[:i+1], rest[i+1:]
		} else {
			rest = nil
		}
		if !b.Keep(rec) {
			b.dropped++
			continue
		}
		b.buf.Write(rec)
	}
	return len(p), nil
}

// String returns everything kept so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Dropped returns how many records Keep rejected.
func (b *Buffer) Dropped() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped
}
