package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"mime"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Mask is what a masked value becomes.
const Mask = `"***"`

// maxDepth is encoding/json's limit on nested arrays and objects.
const maxDepth = 10000

var errNotJSON = errors.New("not a JSON document")

type config struct {
	Fields []string `json:"fields"`
}

func parseConfig(data []byte) (*fieldSet, error) {
	var c config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("invalid conf: %w", err)
	}
	if len(c.Fields) == 0 {
		return nil, errors.New("invalid conf: fields must list at least one field")
	}
	return newFieldSet(c.Fields), nil
}

// fieldSet is the set of keys whose values are masked. Most keys of a
// document are not in it: a map lookup hashes the key (~170 ns in wasm),
// a look at the lengths of the fields rules most of them out first.
type fieldSet struct {
	lens  uint64          // bit n: a field is n bytes long (63: 63 or more)
	names []string        // the fields, if there are at most maxListed
	m     map[string]bool // else
}

// maxListed is how many fields are compared one by one rather than looked
// up in a map.
const maxListed = 8

func newFieldSet(names []string) *fieldSet {
	s := new(fieldSet)
	for _, f := range names {
		s.lens |= 1 << min(len(f), 63)
		if !slices.Contains(s.names, f) {
			s.names = append(s.names, f)
		}
	}
	if len(s.names) > maxListed {
		s.m = make(map[string]bool, len(s.names))
		for _, f := range s.names {
			s.m[f] = true
		}
		s.names = nil
	}
	return s
}

// has reports whether key is a field; it does not allocate.
func (s *fieldSet) has(key []byte) bool {
	if s.lens&(1<<min(len(key), 63)) == 0 {
		return false
	}
	if s.m != nil {
		return s.m[string(key)]
	}
	for _, f := range s.names {
		if f == string(key) {
			return true
		}
	}
	return false
}

// isJSON accepts application/json and any +json media type.
func isJSON(contentType string) bool {
	switch contentType { // the usual ones, without parsing (which allocates)
	case "application/json", "application/json; charset=utf-8", "application/json;charset=utf-8":
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// mask replaces, in a JSON document, the value of every object member whose
// key is in fields with Mask, and returns the new document and how many
// values it replaced. Everything else (order, spacing, escapes) is kept.
// A body that is not exactly one valid JSON value is an error. The result
// is appended to out[:0] (when anything is masked; else doc is returned).
//
// The document is validated and masked in one walk. It allocates only to
// grow out, and for an escaped key longer than 64 bytes once decoded.
// It accepts exactly what encoding/json.Valid accepts (RFC 8259, bytes
// that are not UTF-8 allowed in strings, \u escapes not checked for
// surrogates, at most maxDepth nested arrays and objects): the masked
// output is thrown away if the document turns out to be invalid.
func mask(doc []byte, fields *fieldSet, out []byte) ([]byte, int, error) {
	var (
		// objs has bit d set if the container at depth d+1 is an object.
		objs   [maxDepth/64 + 1]uint64
		depth  int
		i      int
		n      int
		last   int  // doc[:last] is in out
		mdepth = -1 // depth of the member whose value is being masked
		vstart int  // where that value starts
		ks     int  // where the current key starts
		plain  bool // the current key is ASCII without escapes
		hit    bool // the current key is a field to mask
		c      byte
	)
	out = out[:0]
	i = skipSpace(doc, 0)

value: // a value starts at doc[i]
	if i >= len(doc) {
		return nil, 0, errNotJSON
	}
	switch c = doc[i]; c {
	case '{', '[':
		if depth == maxDepth {
			return nil, 0, errNotJSON
		}
		if c == '{' {
			objs[depth>>6] |= 1 << (depth & 63)
		} else {
			objs[depth>>6] &^= 1 << (depth & 63)
		}
		depth++
		i = skipSpace(doc, i+1)
		if i < len(doc) && doc[i] == c+2 { // '}' or ']'
			depth--
			i++
			goto end
		}
		if c == '{' {
			goto key
		}
		goto value
	case '"':
		i = stringEnd(doc, i)
	case 't':
		i = literalEnd(doc, i, "true")
	case 'f':
		i = literalEnd(doc, i, "false")
	case 'n':
		i = literalEnd(doc, i, "null")
	default:
		i = numberEnd(doc, i)
	}
	if i < 0 {
		return nil, 0, errNotJSON
	}

end: // a value ends just before doc[i]
	if depth == mdepth {
		if n == 0 {
			out = slices.Grow(out, len(doc)+len(Mask))
		}
		out = append(append(out, doc[last:vstart]...), Mask...)
		last = i
		n++
		mdepth = -1
	}
	i = skipSpace(doc, i)
	if depth == 0 {
		if i != len(doc) {
			return nil, 0, errNotJSON
		}
		if n == 0 {
			return doc, 0, nil
		}
		return append(out, doc[last:]...), n, nil
	}
	if i >= len(doc) {
		return nil, 0, errNotJSON
	}
	c = doc[i]
	if objs[(depth-1)>>6]&(1<<((depth-1)&63)) != 0 {
		switch c {
		case ',':
			i = skipSpace(doc, i+1)
			goto key
		case '}':
			depth--
			i++
			goto end
		}
	} else {
		switch c {
		case ',':
			i = skipSpace(doc, i+1)
			goto value
		case ']':
			depth--
			i++
			goto end
		}
	}
	return nil, 0, errNotJSON

key: // an object member starts at doc[i]
	if i >= len(doc) || doc[i] != '"' {
		return nil, 0, errNotJSON
	}
	ks = i
	i, plain = keyEnd(doc, i)
	if i < 0 {
		return nil, 0, errNotJSON
	}
	hit = mdepth < 0 && isField(doc[ks+1:i-1], plain, fields)
	i = skipSpace(doc, i)
	if i >= len(doc) || doc[i] != ':' {
		return nil, 0, errNotJSON
	}
	i = skipSpace(doc, i+1)
	if hit {
		mdepth, vstart = depth, i
	}
	goto value
}

// Classes of bytes in strings, for the scanning loops.
const (
	ascii   = iota // printable ASCII but '"' and '\\'
	high           // 0x80 and up: UTF-8 or not, encoding/json accepts it
	special        // '"', '\\' or a control character
)

var strClass = func() (t [256]byte) {
	for c := range 0x20 {
		t[c] = special
	}
	t['"'], t['\\'] = special, special
	for c := 0x80; c < 0x100; c++ {
		t[c] = high
	}
	return t
}()

var isSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

func skipSpace(doc []byte, i int) int {
	for i < len(doc) && isSpace[doc[i]] {
		i++
	}
	return i
}

// stringEnd returns the offset just past the string that starts at doc[i]
// (a quote), or -1 if it is not a valid string.
func stringEnd(doc []byte, i int) int {
	i++
	for {
		// 8 bytes at a time: a loop iteration costs more than its
		// body in Go's wasm code.
		for i+8 <= len(doc) {
			if m := specials(binary.LittleEndian.Uint64(doc[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		for i < len(doc) && strClass[doc[i]] != special {
			i++
		}
		if i >= len(doc) {
			return -1
		}
		switch doc[i] {
		case '"':
			return i + 1
		case '\\':
			if i = escapeEnd(doc, i); i < 0 {
				return -1
			}
		default:
			return -1 // a control character
		}
	}
}

// keyEnd is stringEnd for an object key; plain reports that the key is
// ASCII without escapes, so that it is its own unescaped form.
func keyEnd(doc []byte, i int) (end int, plain bool) {
	plain = true
	i++
	for {
		for i+8 <= len(doc) {
			w := binary.LittleEndian.Uint64(doc[i:])
			if m := specials(w) | w&highBits; m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		for i < len(doc) && strClass[doc[i]] == ascii {
			i++
		}
		if i >= len(doc) {
			return -1, false
		}
		switch c := doc[i]; {
		case c == '"':
			return i + 1, plain
		case c == '\\':
			if i = escapeEnd(doc, i); i < 0 {
				return -1, false
			}
		case c >= 0x80:
			i++
		default:
			return -1, false // a control character
		}
		plain = false
	}
}

const (
	lowBits  = 0x0101010101010101
	highBits = 0x8080808080808080
)

// specials returns w (8 bytes of a string, the first in the low byte) with
// the high bit set in its lowest byte that is special, if any (and maybe
// in bytes above it, but never below): per byte, x-1 borrows from the high
// bit only if x is 0, and x-0x20 only if x < 0x20; &^ drops bytes that had
// the high bit set already. Borrows go up, so the lowest hit is exact.
func specials(w uint64) uint64 {
	q := w ^ lowBits*'"'
	b := w ^ lowBits*'\\'
	return ((q-lowBits)&^q | (b-lowBits)&^b | (w-lowBits*0x20)&^w) & highBits
}

// escapeEnd returns the offset just past the escape sequence that starts at
// doc[i] (a backslash), or -1 if it is not a valid one.
func escapeEnd(doc []byte, i int) int {
	if i+1 >= len(doc) {
		return -1
	}
	switch doc[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return i + 2
	case 'u':
		if hex4(doc[i+2:]) >= 0 {
			return i + 6
		}
	}
	return -1
}

// hex4 returns the value of the 4 hex digits that b starts with, or -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

func literalEnd(doc []byte, i int, lit string) int {
	if len(doc)-i < len(lit) || string(doc[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// numberEnd returns the offset just past the number that starts at doc[i],
// or -1 if there is none: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func numberEnd(doc []byte, i int) int {
	if doc[i] == '-' {
		i++
	}
	if i >= len(doc) || !isDigit(doc[i]) {
		return -1
	}
	if doc[i] == '0' {
		i++
	} else {
		i = digitsEnd(doc, i+1)
	}
	if i < len(doc) && doc[i] == '.' {
		i++
		if i >= len(doc) || !isDigit(doc[i]) {
			return -1
		}
		i = digitsEnd(doc, i+1)
	}
	if i < len(doc) && doc[i]|0x20 == 'e' {
		i++
		if i < len(doc) && (doc[i] == '+' || doc[i] == '-') {
			i++
		}
		if i >= len(doc) || !isDigit(doc[i]) {
			return -1
		}
		i = digitsEnd(doc, i+1)
	}
	return i
}

func isDigit(c byte) bool { return c-'0' < 10 }

func digitsEnd(doc []byte, i int) int {
	for i < len(doc) && isDigit(doc[i]) {
		i++
	}
	return i
}

// isField reports whether key (a valid string's contents, without quotes)
// is in fields once decoded. plain keys are their own decoded form.
func isField(key []byte, plain bool, fields *fieldSet) bool {
	if plain {
		return fields.has(key)
	}
	var buf [64]byte // on the stack; append moves a longer key to the heap
	return fields.has(decodeKey(buf[:0], key))
}

// decodeKey appends to dst the string s (a valid string's contents) as
// encoding/json decodes it: escapes decoded, and U+FFFD for a \u escape
// of a surrogate that is not half of a pair and for each byte that is not
// part of valid UTF-8.
func decodeKey(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf && c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		if c != '\\' {
			r, size := utf8.DecodeRune(s[i:])
			dst = utf8.AppendRune(dst, r)
			i += size
			continue
		}
		e := s[i+1]
		i += 2
		switch e {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(s[i:])
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2 = hex4(s[i+2:])
				}
				if r = utf16.DecodeRune(r, r2); r != utf8.RuneError {
					i += 6 // a pair
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, e)
		}
	}
	return dst
}
