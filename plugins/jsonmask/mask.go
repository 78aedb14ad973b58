package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"slices"
	"strings"
)

// Mask is what a masked value becomes.
const Mask = `"***"`

type config struct {
	Fields []string `json:"fields"`
}

func parseConfig(data []byte) (map[string]bool, error) {
	var c config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("invalid conf: %w", err)
	}
	if len(c.Fields) == 0 {
		return nil, errors.New("invalid conf: fields must list at least one field")
	}
	fields := make(map[string]bool, len(c.Fields))
	for _, f := range c.Fields {
		fields[f] = true
	}
	return fields, nil
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
// After json.Valid the document is scanned byte by byte, with no
// allocation: in valid JSON a string followed by a colon is an object key,
// so no nesting needs tracking, and a masked value is skipped by counting
// brackets outside strings.
func mask(doc []byte, fields map[string]bool, out []byte) ([]byte, int, error) {
	if !json.Valid(doc) {
		return nil, 0, errors.New("not a JSON document")
	}
	n, last := 0, 0
	out = out[:0]
	for i := 0; i < len(doc); {
		if doc[i] != '"' {
			i++
			continue
		}
		end, escaped := stringEnd(doc, i)
		colon := skipSpace(doc, end)
		if colon >= len(doc) || doc[colon] != ':' {
			i = end // a string value
			continue
		}
		if !isField(doc[i:end], escaped, fields) {
			i = colon + 1
			continue
		}
		start := skipSpace(doc, colon+1)
		stop := valueEnd(doc, start)
		if n == 0 {
			out = slices.Grow(out, len(doc)+len(Mask))
		}
		out = append(append(out, doc[last:start]...), Mask...)
		last, i = stop, stop
		n++
	}
	if n == 0 {
		return doc, 0, nil
	}
	return append(out, doc[last:]...), n, nil
}

// isField reports whether the quoted key is in fields, after unescaping.
func isField(quoted []byte, escaped bool, fields map[string]bool) bool {
	if !escaped {
		return fields[string(quoted[1:len(quoted)-1])] // no allocation
	}
	var key string
	if json.Unmarshal(quoted, &key) != nil {
		return false
	}
	return fields[key]
}

// stringEnd returns the offset just past the string starting at doc[i]
// (a quote), and whether it contains escapes.
func stringEnd(doc []byte, i int) (end int, escaped bool) {
	for i++; i < len(doc); i++ {
		switch doc[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			return i + 1, escaped
		}
	}
	return len(doc), escaped
}

func skipSpace(doc []byte, i int) int {
	for i < len(doc) {
		switch doc[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// valueEnd returns the offset just past the value starting at doc[i].
func valueEnd(doc []byte, i int) int {
	if i >= len(doc) {
		return i
	}
	switch doc[i] {
	case '"':
		end, _ := stringEnd(doc, i)
		return end
	case '{', '[':
		depth := 0
		for i < len(doc) {
			switch doc[i] {
			case '"':
				i, _ = stringEnd(doc, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	// A number or a literal: up to the next delimiter.
	for i < len(doc) {
		switch doc[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}
