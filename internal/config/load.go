package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// LoadMain reads and validates config.yaml. Relative paths inside it are
// resolved against its directory. A validation failure is an Errors value.
func LoadMain(path string) (*Main, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return ParseMain(path, data)
}

// ParseMain validates the contents of a config.yaml; file is used in error
// messages and to resolve relative paths, exactly as if LoadMain(file) had
// read data.
func ParseMain(file string, data []byte) (*Main, error) {
	root, perr := parse(file, data)
	if perr != nil {
		return nil, Errors{perr}
	}
	d := &decoder{file: file}
	m := &Main{File: file}
	d.decodeMain(root, m, filepath.Dir(file))
	if len(d.errs) > 0 {
		sortErrors(d.errs)
		return nil, d.errs
	}
	return m, nil
}

// LoadRoutes reads and validates apisix.yaml against m, which supplies the
// wasm plugin names routes may use. A file whose last non-empty line is not
// "#END" yields an error matching ErrIncomplete; any other failure is an
// Errors value.
func LoadRoutes(path string, m *Main) (*Routes, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return ParseRoutes(path, data, m)
}

// ParseRoutes validates the contents of an apisix.yaml; file is used in
// error messages.
func ParseRoutes(file string, data []byte, m *Main) (*Routes, error) {
	if line, ok := hasEnd(data); !ok {
		return nil, Errors{{
			File: file, Line: line, Column: 1,
			Msg: `the last non-empty line must be "#END" (APISIX standalone rule); the file may still be being written`,
			Err: ErrIncomplete,
		}}
	}
	root, perr := parse(file, data)
	if perr != nil {
		return nil, Errors{perr}
	}
	d := &decoder{file: file}
	r := d.decodeRoutes(root, m)
	if len(d.errs) > 0 {
		sortErrors(d.errs)
		return nil, d.errs
	}
	r.File = file
	return r, nil
}

// Load reads config.yaml at mainPath and the apisix.yaml it points to
// (heimdall.apisix_yaml, by default apisix.yaml beside it).
func Load(mainPath string) (*Main, *Routes, error) {
	m, err := LoadMain(mainPath)
	if err != nil {
		return nil, nil, err
	}
	r, err := LoadRoutes(m.Heimdall.APISIXYAML, m)
	if err != nil {
		return m, nil, err
	}
	return m, r, nil
}

func readFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		msg := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			msg = pe.Err.Error()
		}
		return nil, Errors{{File: path, Msg: fmt.Sprintf("cannot read file: %s", msg), Err: err}}
	}
	return data, nil
}

// hasEnd reports whether the last non-empty line of data is "#END" and
// returns the number of that line (or of the last line) for the error.
func hasEnd(data []byte) (int, bool) {
	lines := bytes.Split(data, []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		l := bytes.TrimSpace(lines[i])
		if len(l) == 0 {
			continue
		}
		return i + 1, string(l) == "#END"
	}
	return 1, false
}
