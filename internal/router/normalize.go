package router

import (
	"bytes"
	"errors"
)

// ErrBadPath is returned by NormalizePath for a path nginx refuses with 400:
// a malformed or NUL percent-escape, or a ".." above the root.
var ErrBadPath = errors.New("router: invalid request path")

// NormalizePath returns the path routes are matched against, normalised as
// nginx normalises $uri before choosing a location (which APISIX's router
// then matches): every percent-escape decoded (%2F included, so an encoded
// slash separates segments as a slash does), runs of slashes merged
// (merge_slashes on), "." segments dropped and ".." segments resolved. A
// path that needs none of it is returned as is, without copying; else the
// result is appended to dst[:0].
//
// The upstream still receives the request-target as the client sent it
// (APISIX forwards the unparsed URI unless proxy-rewrite changes it): a
// path reaches a route's upstream only if its normalised form matched the
// route, so "/public/..%2Fadmin" cannot use a "/public/*" route to reach
// "/admin", whatever the upstream decodes.
//
// path must not hold the query; a path not starting with "/" (the asterisk
// form) is returned unchanged.
func NormalizePath(dst, path []byte) ([]byte, error) {
	if len(path) == 0 || path[0] != '/' || clean(path) {
		return path, nil
	}
	out := dst[:0]
	// seg is where the current segment starts in out (after its '/').
	out = append(out, '/')
	seg := 1
	for i := 1; i <= len(path); i++ {
		var c byte
		end := i == len(path)
		if !end {
			c = path[i]
			if c == '%' {
				if i+2 >= len(path) {
					return nil, ErrBadPath
				}
				h, ok1 := unhex(path[i+1])
				l, ok2 := unhex(path[i+2])
				if !ok1 || !ok2 {
					return nil, ErrBadPath
				}
				c = h<<4 | l
				if c == 0 {
					return nil, ErrBadPath
				}
				i += 2
			}
		}
		if !end && c != '/' {
			out = append(out, c)
			continue
		}
		// A segment ended (at a slash or at the end): resolve it.
		switch string(out[seg:]) {
		case "":
			// An empty segment: merge the slashes.
			continue
		case ".":
			out = out[:seg]
		case "..":
			if seg == 1 {
				return nil, ErrBadPath // above the root
			}
			// Drop the previous segment: back to the slash before it.
			j := seg - 2
			for j > 0 && out[j] != '/' {
				j--
			}
			out = out[:j+1]
			seg = j + 1
			continue
		default:
			if !end {
				out = append(out, '/')
				seg = len(out)
			}
			continue
		}
	}
	return out, nil
}

// clean reports whether path needs no normalisation: no '%', no "//", and
// no "." or ".." segment. It hops from slash to slash (bytes.IndexByte).
func clean(p []byte) bool {
	if bytes.IndexByte(p, '%') >= 0 {
		return false
	}
	for i := 0; ; {
		j := bytes.IndexByte(p[i:], '/')
		if j < 0 {
			return true
		}
		i += j + 1
		if i == len(p) {
			return true
		}
		switch p[i] {
		case '/':
			return false
		case '.':
			// "/." followed by the end, "/" or ".": a dot segment.
			if i+1 == len(p) || p[i+1] == '/' ||
				p[i+1] == '.' && (i+2 == len(p) || p[i+2] == '/') {
				return false
			}
		}
	}
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
