package config

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// decoder walks yaml.v3 nodes by hand instead of using yaml.Unmarshal into
// structs: that is what gives every error a position and a field path, lets
// it continue after an error to report the next one, and handles the
// APISIX fields that take several shapes (node_listen, nodes, headers, conf).
type decoder struct {
	file string
	errs Errors
	// noPos leaves positions out of errors, for objects whose source is
	// not a file (etcd keys, Admin API bodies).
	noPos bool
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	e := &Error{File: d.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil && !d.noPos {
		e.Line, e.Column = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

// parse reads a YAML document into its root node. A syntax error is
// returned as an *Error carrying the line yaml.v3 reports.
func parse(file string, data []byte) (*yaml.Node, *Error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, syntaxError(file, data, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil // empty document
	}
	if e := checkAliases(file, &doc); e != nil {
		return nil, e
	}
	return doc.Content[0], nil
}

// maxAliasExpansion bounds how many nodes aliases may add to a document
// once expanded: the decoder follows aliases, so a few lines of nested
// aliases ("billion laughs") would otherwise expand to millions of nodes.
const maxAliasExpansion = 100_000

// checkAliases rejects an alias inside the node its anchor names (yaml.v3
// accepts it when decoding into yaml.Node; following it never ends) and
// documents whose aliases expand beyond maxAliasExpansion.
func checkAliases(file string, doc *yaml.Node) *Error {
	const visiting = -1
	sizes := map[*yaml.Node]int{}
	var written int
	var aliases []*yaml.Node
	var cycle *yaml.Node
	var size func(n *yaml.Node, top bool) int
	size = func(n *yaml.Node, top bool) int {
		if top {
			written++
		}
		if n.Kind == yaml.AliasNode {
			if top {
				aliases = append(aliases, n)
			}
			if n.Alias == nil {
				return 1
			}
			// The anchored node is counted where it is written; here only
			// its expansion.
			return size(n.Alias, false)
		}
		if s, ok := sizes[n]; ok {
			if s == visiting {
				if cycle == nil {
					cycle = n
				}
				return 1
			}
			return s // an anchored node reached again through an alias
		}
		sizes[n] = visiting
		total := 1
		for _, c := range n.Content {
			total += size(c, top)
			if total > 1<<40 {
				total = 1 << 40 // saturate; the limit check below fails anyway
			}
		}
		sizes[n] = total
		return total
	}
	expanded := size(doc, true)
	if cycle != nil {
		for _, a := range aliases {
			if a.Alias == cycle {
				return &Error{File: file, Line: a.Line, Column: a.Column,
					Msg: fmt.Sprintf("invalid YAML: alias *%s is inside the node its anchor &%s names (it would never end)", a.Value, a.Value)}
			}
		}
		return &Error{File: file, Line: cycle.Line, Column: cycle.Column, Msg: "invalid YAML: an alias is inside the node its anchor names"}
	}
	if expanded-written > maxAliasExpansion {
		big := aliases[0]
		for _, a := range aliases {
			if a.Alias != nil && sizes[a.Alias] > sizes[big.Alias] {
				big = a
			}
		}
		return &Error{File: file, Line: big.Line, Column: big.Column,
			Msg: fmt.Sprintf("invalid YAML: aliases expand the document by %d nodes, more than %d (alias *%s alone adds %d)",
				expanded-written, maxAliasExpansion, big.Value, sizes[big.Alias])}
	}
	return nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a yaml.v3 error into an *Error with a line. yaml.v3
// leaves the line out of the message in two cases: a problem on the first
// line (its marks are 0-based and 0 reads as "unknown"), and a byte its
// reader refuses (control characters, invalid UTF-8), which is located here
// with its column.
func syntaxError(file string, data []byte, err error) *Error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Msg: "invalid YAML: " + m[2], Err: err}
	}
	e := &Error{File: file, Line: 1, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: "), Err: err}
	if line, col, ok := unreadable(data); ok {
		e.Line, e.Column = line, col
	}
	return e
}

// unreadable finds the first character YAML does not allow in a stream
// (YAML 1.2 section 5.1: c-printable, in valid UTF-8) and returns its
// 1-based line and column.
func unreadable(data []byte) (line, col int, ok bool) {
	line, col = 1, 1
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		printable := r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0x7e) || r == 0x85 ||
			(r >= 0xa0 && r <= 0xd7ff) || (r >= 0xe000 && r <= 0xfffd && r != 0xfeff) || (r >= 0x10000 && r <= 0x10ffff)
		if r == 0xfeff && i == 0 {
			printable = true // a byte order mark
		}
		if (r == utf8.RuneError && n <= 1) || !printable {
			return line, col, true
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += n
	}
	return 0, 0, false
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node is, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!bool":
			return "boolean " + n.Value
		case "!!int", "!!float":
			return "number " + n.Value
		case "!!str":
			return strconv.Quote(n.Value)
		}
		return n.ShortTag() + " " + strconv.Quote(n.Value)
	}
	return "unknown YAML node"
}

// join appends a key to a field path. Keys that are not plain names (node
// addresses, header names with dots) are written as ["key"].
func join(path, key string) string {
	if !plainKey(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func plainKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// field is one known key of a mapping and the function that decodes its value.
type field struct {
	name   string
	decode func(v *yaml.Node, path string)
}

// mapping decodes a mapping node field by field. Unknown and duplicate keys
// are errors. A null node is an empty mapping (`ssl:` with nothing under
// it). It reports whether n was a mapping.
func (d *decoder) mapping(n *yaml.Node, path string, fields ...field) bool {
	n = resolve(n)
	if isNull(n) {
		return true
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, got %s", describe(n))
		return false
	}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "mapping keys must be strings, got %s", describe(k))
			continue
		}
		if seen[k.Value] {
			d.errorf(k, join(path, k.Value), "duplicate field")
			continue
		}
		seen[k.Value] = true
		found := false
		for _, f := range fields {
			if f.name == k.Value {
				f.decode(v, join(path, k.Value))
				found = true
				break
			}
		}
		if !found {
			names := make([]string, len(fields))
			for j, f := range fields {
				names[j] = f.name
			}
			d.errorf(k, path, "unknown field %q; allowed: %s", k.Value, strings.Join(names, ", "))
		}
	}
	return true
}

// pairs returns the key/value nodes of a free-form mapping (node maps,
// plugin maps, header maps), reporting non-string and duplicate keys.
func (d *decoder) pairs(n *yaml.Node, path string) (keys, values []*yaml.Node, ok bool) {
	n = resolve(n)
	if isNull(n) {
		return nil, nil, true
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, got %s", describe(n))
		return nil, nil, false
	}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := resolve(n.Content[i])
		if k.Kind != yaml.ScalarNode || isNull(k) {
			d.errorf(k, path, "mapping keys must be strings, got %s", describe(k))
			continue
		}
		if seen[k.Value] {
			d.errorf(k, join(path, k.Value), "duplicate key")
			continue
		}
		seen[k.Value] = true
		keys = append(keys, k)
		values = append(values, n.Content[i+1])
	}
	return keys, values, true
}

// sequence returns the items of a list; null is an empty list.
func (d *decoder) sequence(n *yaml.Node, path string) ([]*yaml.Node, bool) {
	n = resolve(n)
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "expected a list, got %s", describe(n))
		return nil, false
	}
	return n.Content, true
}

func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		d.errorf(n, path, "expected a string, got %s", describe(n))
		return "", false
	}
	return n.Value, true
}

// text accepts any non-null scalar as text: ids (`id: 1`) and header values
// (`X-Version: 2`) are commonly written as numbers.
func (d *decoder) text(n *yaml.Node, path string) (string, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(n, path, "expected a string, got %s", describe(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) strList(n *yaml.Node, path string) ([]string, bool) {
	items, ok := d.sequence(n, path)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		s, ok2 := d.str(it, index(path, i))
		if !ok2 {
			ok = false
			continue
		}
		out = append(out, s)
	}
	return out, ok
}

func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		d.errorf(n, path, "expected true or false, got %s", describe(n))
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		d.errorf(n, path, "expected true or false, got %s", describe(n))
		return false, false
	}
	return b, true
}

func (d *decoder) integer(n *yaml.Node, path string) (int, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		d.errorf(n, path, "expected an integer, got %s", describe(n))
		return 0, false
	}
	var v int
	if err := n.Decode(&v); err != nil {
		d.errorf(n, path, "integer %s out of range", n.Value)
		return 0, false
	}
	return v, true
}

// nonNegInt decodes an integer that must be >= 0.
func (d *decoder) nonNegInt(n *yaml.Node, path string) (int, bool) {
	v, ok := d.integer(n, path)
	if ok && v < 0 {
		d.errorf(resolve(n), path, "must be >= 0, got %d", v)
		return 0, false
	}
	return v, ok
}

func (d *decoder) number(n *yaml.Node, path string) (float64, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		d.errorf(n, path, "expected a number, got %s", describe(n))
		return 0, false
	}
	var v float64
	if err := n.Decode(&v); err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		d.errorf(n, path, "expected a finite number, got %s", describe(n))
		return 0, false
	}
	return v, true
}

// seconds decodes an APISIX-style timeout in seconds (fractions allowed)
// that must be > 0.
func (d *decoder) seconds(n *yaml.Node, path string) (time.Duration, bool) {
	v, ok := d.number(n, path)
	if !ok {
		return 0, false
	}
	if v <= 0 {
		d.errorf(resolve(n), path, "must be > 0 seconds, got %s", resolve(n).Value)
		return 0, false
	}
	if v > float64(math.MaxInt64)/float64(time.Second) {
		d.errorf(resolve(n), path, "too large: %s seconds", resolve(n).Value)
		return 0, false
	}
	return time.Duration(v * float64(time.Second)), true
}

// duration decodes a Go duration string ("1.5s") or a number of seconds,
// which must be >= 0.
func (d *decoder) duration(n *yaml.Node, path string) (time.Duration, bool) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		v, err := time.ParseDuration(n.Value)
		if err != nil {
			d.errorf(n, path, "invalid duration %q; use a number of seconds or a duration such as 500ms, 1.5s, 2m", n.Value)
			return 0, false
		}
		if v < 0 {
			d.errorf(n, path, "must be >= 0, got %s", n.Value)
			return 0, false
		}
		return v, true
	}
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
		v, ok := d.number(n, path)
		if !ok {
			return 0, false
		}
		if v < 0 || v > float64(math.MaxInt64)/float64(time.Second) {
			d.errorf(n, path, "must be >= 0 and fit a duration, got %s", n.Value)
			return 0, false
		}
		return time.Duration(v * float64(time.Second)), true
	}
	d.errorf(n, path, "expected a duration (seconds or a string such as 1.5s), got %s", describe(n))
	return 0, false
}

// size decodes a byte count: an integer or a string with a k, m or g suffix
// (powers of 1024, case-insensitive), as in nginx. It must be >= 0.
func (d *decoder) size(n *yaml.Node, path string) (int64, bool) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		var v int64
		if err := n.Decode(&v); err != nil || v < 0 {
			d.errorf(n, path, "must be a byte count >= 0, got %s", n.Value)
			return 0, false
		}
		return v, true
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		if v, ok := parseSize(n.Value); ok {
			return v, true
		}
	}
	d.errorf(n, path, "expected a size in bytes such as 65536, 64k, 1m or 1g, got %s", describe(n))
	return 0, false
}

func parseSize(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		}
		if mult != 1 {
			s = s[:len(s)-1]
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > math.MaxInt64/mult {
		return 0, false
	}
	return v * mult, true
}

// oneOf decodes a string that must be one of allowed.
func (d *decoder) oneOf(n *yaml.Node, path, what string, allowed ...string) (string, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return "", false
	}
	for _, a := range allowed {
		if s == a {
			return s, true
		}
	}
	d.errorf(resolve(n), path, "unknown %s %q; allowed: %s", what, s, strings.Join(allowed, ", "))
	return "", false
}
