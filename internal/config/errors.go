package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrIncomplete is matched (with errors.Is) by the error returned for an
// apisix.yaml whose last non-empty line is not "#END". APISIX treats such a
// file as still being written; the store keeps the previous configuration and
// retries on its next poll.
var ErrIncomplete = errors.New("file does not end with #END")

// Error is one problem found in a configuration file. It formats as
//
//	file:line:column: field.path: message
//
// Line and Column are 1-based; zero means the position is unknown (the file
// could not be read, for example) and is omitted from the message.
type Error struct {
	File   string
	Line   int
	Column int
	Path   string // field path such as routes[1].upstream.nodes; empty for file-level problems
	Msg    string // what is wrong and, where it helps, what is allowed
	Err    error  // optional underlying error (ErrIncomplete, an *os.PathError, ...)
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	if e.Path != "" {
		b.WriteString(": ")
		b.WriteString(e.Path)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Errors is every problem found while loading one configuration, in file
// order. Its message has one error per line so it can be printed as is by
// `heimdall validate` and logged line by line by the store.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.Is and errors.As look at each error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// sortErrors orders errors by file position; errors without a position keep
// their relative order and come first, since they are about the whole file.
func sortErrors(es Errors) {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].File != es[j].File {
			return false
		}
		if es[i].Line != es[j].Line {
			return es[i].Line < es[j].Line
		}
		return es[i].Column < es[j].Column
	})
}
