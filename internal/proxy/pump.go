package proxy

import (
	"io"
	"net/http"
	"sync"
)

// bodyBufSize is the chunk size bodies are read in when filters see them.
const bodyBufSize = 32 << 10

// pump is a pull-based body reader: each Read pulls from src and, when
// through is set, passes the chunk through the filter chain first. Nothing
// is buffered beyond one chunk except what filters choose to buffer.
type pump struct {
	src     io.Reader
	through func(chunk []byte, eos bool) ([]byte, error)
	pool    *sync.Pool
	buf     *[]byte
	pending []byte
	// full is the whole filtered body when prefill reached the end: it can
	// be sent again on a retry.
	full     []byte
	replay   bool
	eof      bool
	consumed bool
	err      error
	// s and req tell the pump whose body it carries, for the trailers: at
	// the end of src the Stream collects them and runs the trailer filters
	// (see Stream.bodyEnded).
	s   *Stream
	req bool
	// n counts the bytes read from src (metrics).
	n int64
}

func (p *pump) init(src io.Reader, through func([]byte, bool) ([]byte, error), pool *sync.Pool) {
	p.src, p.through, p.pool = src, through, pool
	p.pending, p.full, p.replay = nil, nil, false
	p.eof, p.consumed, p.err = src == nil, false, nil
	p.n = 0
}

func (p *pump) reset() {
	if p.buf != nil {
		p.pool.Put(p.buf)
		p.buf = nil
	}
	p.init(nil, nil, nil)
}

// prefill pulls until the filters let bytes out or the body ends.
func (p *pump) prefill() error {
	for len(p.pending) == 0 && !p.eof {
		if err := p.fill(); err != nil {
			return err
		}
	}
	if p.eof {
		p.full, p.replay = p.pending, true
	}
	return nil
}

// rewind prepares the body to be sent again and reports whether it can be.
func (p *pump) rewind() bool {
	if p.replay {
		p.pending = p.full
		p.err = nil
		return true
	}
	return !p.consumed
}

func (p *pump) fill() error {
	if p.buf == nil {
		if v := p.pool.Get(); v != nil {
			p.buf = v.(*[]byte)
		} else {
			b := make([]byte, bodyBufSize)
			p.buf = &b
		}
	}
	n, err := p.src.Read(*p.buf)
	if n > 0 {
		p.consumed = true
		p.n += int64(n)
	}
	eos := err == io.EOF
	if err != nil && !eos {
		p.err = err
		return err
	}
	if n == 0 && !eos {
		return nil
	}
	// With trailers the last chunk is not the end of the stream: the
	// trailers callback is (proxy-wasm as Envoy behaves).
	trailers := eos && p.s != nil && p.s.collectTrailers(p.req)
	var out []byte
	if n > 0 || !trailers {
		out, err = p.through((*p.buf)[:n], eos && !trailers)
		if err != nil {
			p.err = err
			return err
		}
	}
	if trailers {
		// What filters still held buffered goes out before the trailers.
		flushed, err := p.s.runTrailers(p.req)
		if err != nil {
			p.err = err
			return err
		}
		if len(flushed) > 0 {
			if len(out) == 0 {
				out = flushed
			} else {
				out = append(append(make([]byte, 0, len(out)+len(flushed)), out...), flushed...)
			}
		}
	}
	p.eof = eos
	p.pending = out
	return nil
}

func (p *pump) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	if p.through == nil {
		if p.eof {
			return 0, io.EOF
		}
		n, err := p.src.Read(b)
		if n > 0 {
			p.consumed = true
			p.n += int64(n)
		}
		if err == io.EOF {
			p.eof = true
			if p.s != nil && p.s.collectTrailers(p.req) {
				// No filter wants the body, so none holds a part of it:
				// the trailer filters release nothing.
				if _, terr := p.s.runTrailers(p.req); terr != nil {
					p.err = terr
					return n, terr
				}
			}
		} else if err != nil {
			p.err = err
		}
		return n, err
	}
	for len(p.pending) == 0 {
		if p.eof {
			return 0, io.EOF
		}
		if err := p.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(b, p.pending)
	p.pending = p.pending[n:]
	return n, nil
}

func httpStatusText(code int) string { return http.StatusText(code) }
