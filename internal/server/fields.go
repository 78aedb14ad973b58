package server

import "github.com/valyala/fasthttp"

// validHead reports whether a request head fasthttp accepted is one the
// gateway may forward: a token method, a request target without controls
// or spaces, and header fields whose names are tokens and whose values hold
// no CR, LF or NUL (RFC 9110 sections 5.1, 5.5 and 9.1; RFC 9112 section
// 3.2). fasthttp lets some through, such as "A b: v" after a bare LF, that
// a forwarded head would carry to the upstream, which may read them
// differently (request smuggling); they get 400 here.
func validHead(rh *fasthttp.RequestHeader) bool {
	if !isToken(rh.Method()) {
		return false
	}
	for _, c := range rh.RequestURI() {
		if c <= ' ' || c == 0x7f {
			return false
		}
	}
	for _, c := range rh.Host() {
		if c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	for k, v := range rh.AllInOrder() {
		if !isToken(k) {
			return false
		}
		for _, c := range v {
			if c == '\r' || c == '\n' || c == 0 {
				return false
			}
		}
	}
	return true
}

// tchar is RFC 9110's token character set.
var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tchar[c] {
			return false
		}
	}
	return true
}
