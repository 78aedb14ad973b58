package config

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

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
		return nil, syntaxError(file, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil // empty document
	}
	return doc.Content[0], nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func syntaxError(file string, err error) *Error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Msg: "invalid YAML: " + m[2], Err: err}
	}
	return &Error{File: file, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: "), Err: err}
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
