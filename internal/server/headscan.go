package server

import (
	"bytes"
	"errors"
)

// Errors a connection's Read returns when the request head breaks a rule of
// RFC 9112 that fasthttp's parser does not enforce; fastError answers them.
var (
	// errBareLF: a line of the request head ends in LF without CR. RFC 9112
	// section 2.2 lets a recipient accept it; nginx does. fasthttp's parser
	// only finds the end of a head at CRLF CRLF, so such a request used to
	// wait for more bytes until the read timeout, unanswered. It is refused
	// with 400 instead of being rewritten to CRLF: no real client sends it,
	// and a rewriting layer is one more place for two parsers to disagree.
	errBareLF = errors.New("request head line ends in a bare LF")
	// errObsFold: a header line starts with space or tab (obs-fold, RFC 9112
	// section 5.2: a server must reject it with 400 or unfold it; fasthttp
	// unfolded it silently).
	errObsFold = errors.New("obsolete line folding in a request header")
	// errTooManyHeaders: more header lines than Config.MaxHeaderCount (431).
	errTooManyHeaders = errors.New("too many request header fields")
)

// headScan checks the bytes of request heads as fasthttp reads them. It
// only looks at line ends (bytes.IndexByte from LF to LF), so it costs a
// few nanoseconds per header line, and it stops at the blank line that ends
// the head: bodies are not scanned.
//
// A head starts when the connection opens and, after a response went out,
// when fasthttp arms the deadline for the next request (it sets the idle
// timeout before reading each keep-alive request). Pipelined requests that
// were read together with an earlier one are not scanned; fasthttp parses
// them as before.
type headScan struct {
	// enabled: the connection carries HTTP/1.1 (never set on HTTP/2 ones).
	enabled    bool
	maxHeaders int
	// on: reading a head; wrote: a response was written since the head
	// ended (so the next SetReadDeadline starts the next head).
	on, wrote bool
	// lineDone: the request line ended; lines: header lines seen; lineLen:
	// bytes of the current line so far; lastCR: the last byte read was CR;
	// lineStart: the next byte starts a line.
	lineDone  bool
	lines     int
	lineLen   int
	lastCR    bool
	lineStart bool
	// first holds the start of the request line, for the log line of a
	// request fasthttp refused (it resets its parsed header on errors).
	first  [96]byte
	nfirst int
	// err is the rule the head broke; Read returns it from then on.
	err error
}

func (h *headScan) start() {
	*h = headScan{enabled: true, maxHeaders: h.maxHeaders, on: true, lineStart: true}
}

// next is called before each SetReadDeadline.
func (h *headScan) next() {
	if h.wrote {
		h.start()
	}
}

func (h *headScan) write() {
	if h.enabled && !h.on {
		h.wrote = true
	}
}

// requestLineOpen reports whether a head is being read and its request line
// has not ended: a head that overflows the buffer then has a request-target
// too long (414), not too many header bytes (431).
func (h *headScan) requestLineOpen() bool { return h.on && !h.lineDone }

// requestLine returns the method and request-target read so far of the
// current head (at most the first 96 bytes of its request line).
func (h *headScan) requestLine() (method, target []byte) {
	line := bytes.TrimRight(h.first[:h.nfirst], "\r")
	method, target, _ = bytes.Cut(line, []byte(" "))
	if i := bytes.LastIndexByte(target, ' '); i >= 0 {
		target = target[:i] // the version
	}
	return method, target
}

// http10 reports whether the request line read ends in HTTP/1.0.
func (h *headScan) http10() bool {
	return bytes.HasSuffix(bytes.TrimRight(h.first[:h.nfirst], "\r"), []byte(" HTTP/1.0"))
}

// scan checks p, the bytes just read.
func (h *headScan) scan(p []byte) error {
	for i := 0; h.on && i < len(p); {
		if h.lineStart {
			h.lineStart = false
			if h.lineDone && (p[i] == ' ' || p[i] == '\t') {
				return errObsFold
			}
		}
		j := bytes.IndexByte(p[i:], '\n')
		if !h.lineDone && h.nfirst < len(h.first) {
			end := len(p)
			if j >= 0 {
				end = i + j
			}
			h.nfirst += copy(h.first[h.nfirst:], p[i:end])
		}
		if j < 0 {
			h.lineLen += len(p) - i
			h.lastCR = p[len(p)-1] == '\r'
			return nil
		}
		end := i + j // the LF
		if j == 0 && !h.lastCR || j > 0 && p[end-1] != '\r' {
			return errBareLF
		}
		content := h.lineLen + j - 1 // without the CR
		h.lineLen, h.lastCR, h.lineStart = 0, false, true
		switch {
		case !h.lineDone:
			// Empty lines before the request line are allowed (RFC 9112
			// section 2.2).
			h.lineDone = content > 0
			if !h.lineDone {
				h.nfirst = 0
			}
		case content == 0:
			h.on = false // the blank line ending the head
		default:
			h.lines++
			if h.maxHeaders > 0 && h.lines > h.maxHeaders {
				return errTooManyHeaders
			}
		}
		i = end + 1
	}
	return nil
}
