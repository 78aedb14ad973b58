package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
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
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// mask replaces, in a JSON document, the value of every object member whose
// key is in fields with Mask, and returns the new document and how many
// values it replaced. Everything else (order, spacing, escapes) is kept.
// A body that is not exactly one valid JSON value is an error.
func mask(doc []byte, fields map[string]bool) ([]byte, int, error) {
	if !json.Valid(doc) {
		return nil, 0, errors.New("not a JSON document")
	}
	type span struct{ start, end int64 }
	type frame struct{ array, wantKey bool }
	var (
		spans []span
		stack []frame
	)
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	// valueDone records that the innermost object got a member's value.
	valueDone := func() {
		if n := len(stack); n > 0 && !stack[n-1].array {
			stack[n-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				stack = append(stack, frame{wantKey: true})
			case '[':
				stack = append(stack, frame{array: true})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
			continue
		}
		n := len(stack)
		if n == 0 || stack[n-1].array || !stack[n-1].wantKey {
			valueDone() // a scalar value
			continue
		}
		// tok is an object key; the decoder has consumed it but not ':'.
		stack[n-1].wantKey = false
		if !fields[tok.(string)] {
			continue
		}
		start := valueStart(doc, dec.InputOffset())
		if err := skipValue(dec); err != nil {
			return nil, 0, err
		}
		spans = append(spans, span{start, dec.InputOffset()})
		valueDone()
	}
	if len(spans) == 0 {
		return doc, 0, nil
	}
	var out bytes.Buffer
	out.Grow(len(doc))
	var last int64
	for _, s := range spans {
		out.Write(doc[last:s.start])
		out.WriteString(Mask)
		last = s.end
	}
	out.Write(doc[last:])
	return out.Bytes(), len(spans), nil
}

// valueStart returns the offset of the value that follows a key ending at
// off: past whitespace and the colon.
func valueStart(doc []byte, off int64) int64 {
	for off < int64(len(doc)) {
		switch doc[off] {
		case ' ', '\t', '\n', '\r', ':':
			off++
		default:
			return off
		}
	}
	return off
}

// skipValue consumes one complete value from dec.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}
