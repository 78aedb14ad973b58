package main

import (
	"fmt"
	"io"
	"os"
)

// progress reports slow steps (a plugin's first compile takes seconds): on
// a terminal one line, rewritten in place until the step is done; otherwise
// one line when it is done, with its duration.
func progress(w io.Writer) func(msg string, done bool) {
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return func(msg string, done bool) {
				fmt.Fprintf(w, "\r\033[K%s", msg)
				if done {
					fmt.Fprintln(w)
				}
			}
		}
	}
	return func(msg string, done bool) {
		if done {
			fmt.Fprintf(w, "heimdall: %s\n", msg)
		}
	}
}
