package plugintool

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"text/template"
)

//go:embed scaffold/*.tmpl
var scaffoldFS embed.FS

// NewOptions describe a plugin to scaffold.
type NewOptions struct {
	// Name is the plugin name: lower case letters, digits and dashes.
	Name string
	// Dir is where the files go (created; must be empty if it exists).
	Dir string
	// SDK is a Heimdall checkout for go.mod's replace directive, when Dir
	// is outside Heimdall's own module (which needs no go.mod).
	SDK string
}

var pluginName = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// HeimdallModule is the module path of Heimdall (and its SDK).
const HeimdallModule = "github.com/heimdallgw/heimdall"

// New writes a Go plugin skeleton: main.go, main_test.go (proxytest),
// README.md, CASES.yaml, Makefile and, outside Heimdall's module, go.mod.
// It returns the files written.
func New(o NewOptions) ([]string, error) {
	if !pluginName.MatchString(o.Name) {
		return nil, fmt.Errorf("plugin name %q: use lower case letters, digits and dashes, starting with a letter", o.Name)
	}
	if o.Dir == "" {
		o.Dir = o.Name
	}
	if ents, err := os.ReadDir(o.Dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("%s exists and is not empty; choose another --dir", o.Dir)
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	inHeimdall, err := insideModule(abs, HeimdallModule)
	if err != nil {
		return nil, err
	}
	data := map[string]any{
		"Name":      o.Name,
		"Header":    "x-" + o.Name,
		"Module":    o.Name,
		"GoVersion": strings.TrimPrefix(runtime.Version(), "go"),
		"SDK":       "",
	}
	if o.SDK != "" {
		sdk, err := filepath.Abs(o.SDK)
		if err != nil {
			return nil, err
		}
		if ok, _ := insideModule(sdk, HeimdallModule); !ok {
			return nil, fmt.Errorf("--sdk %s: not a Heimdall checkout (no go.mod with module %s)", o.SDK, HeimdallModule)
		}
		data["SDK"] = sdk
	}
	files := []string{"main.go", "main_test.go", "README.md", "CASES.yaml", "Makefile"}
	if !inHeimdall {
		files = append(files, "go.mod")
	}
	var written []string
	for _, f := range files {
		// [[ ]] delimiters: Go composite literals are full of {{.
		t, err := template.New(f+".tmpl").Delims("[[", "]]").ParseFS(scaffoldFS, "scaffold/"+f+".tmpl")
		if err != nil {
			return nil, err
		}
		var b bytes.Buffer
		if err := t.Execute(&b, data); err != nil {
			return nil, err
		}
		p := filepath.Join(o.Dir, f)
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			return nil, err
		}
		written = append(written, p)
	}
	return written, nil
}

// insideModule reports whether dir is inside the module named path: the
// nearest go.mod above it declares that module.
func insideModule(dir, path string) (bool, error) {
	for d := dir; ; {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil {
			return modulePath(b) == path, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return false, err
		}
		parent := filepath.Dir(d)
		if parent == d {
			return false, nil
		}
		d = parent
	}
}

// modulePath is the module directive of a go.mod file ("" if none).
func modulePath(gomod []byte) string {
	for _, l := range strings.Split(string(gomod), "\n") {
		l = strings.TrimSpace(l)
		if rest, ok := strings.CutPrefix(l, "module"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}
