package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heimdallgw/heimdall/internal/testutil/wasmbuild"
)

// TestWritingAPluginGuide runs docs/writing-a-plugin.md: every command of
// its sh blocks in order (heimdall in-process, cd, go and make for real),
// after writing the files it shows with a "file:" line. A guide that no
// longer works fails here.
func TestWritingAPluginGuide(t *testing.T) {
	root, err := wasmbuild.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	guide, err := os.ReadFile(filepath.Join(root, "docs", "writing-a-plugin.md"))
	if err != nil {
		t.Fatal(err)
	}
	// Inside the checkout (the guide's premise), in a directory ./...
	// patterns skip (leading underscore).
	if err := os.MkdirAll(filepath.Join(root, "build"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(filepath.Join(root, "build"), "_guide-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	t.Chdir(dir)

	ran := 0
	sc := bufio.NewScanner(strings.NewReader(string(guide)))
	var block, file string
	var body []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case block == "" && strings.HasPrefix(line, "file: "):
			file = strings.TrimPrefix(line, "file: ")
		case block == "" && strings.HasPrefix(line, "```"):
			block, body = strings.TrimPrefix(line, "```"), nil
		case block != "" && line == "```":
			switch {
			case file != "":
				if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, []byte(strings.Join(body, "\n")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			case block == "sh":
				for _, c := range body {
					if guideCommand(t, c) {
						ran++
					}
				}
			}
			block, file = "", ""
		case block != "":
			body = append(body, line)
		}
	}
	if ran < 8 {
		t.Fatalf("ran %d commands; the guide has lost its sh blocks?", ran)
	}
}

// guideCommand runs one line of an sh block; false for a blank line.
func guideCommand(t *testing.T, line string) bool {
	t.Helper()
	args := shellWords(line)
	if len(args) == 0 {
		return false
	}
	switch args[0] {
	case "cd":
		t.Chdir(args[1])
	case "heimdall":
		code, out, errOut := runCmd(args[1:]...)
		if code != 0 {
			t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", line, code, out, errOut)
		}
		checks := map[string][]string{
			"inspect": {": loads in Heimdall", "SDK: Go (gc, wasip1) with Heimdall's SDK"},
			"run":     {"  > proxy_on_request_headers(", "x-greeter: hi", "=== request to the upstream\nGET /anything HTTP/1.1"},
			"test":    {"PASS: "},
		}
		if len(args) > 2 && args[1] == "plugin" {
			for _, want := range checks[args[2]] {
				if !strings.Contains(out, want) {
					t.Errorf("%s: output lacks %q:\n%s", line, want, out)
				}
			}
		}
	default:
		cmd := exec.Command(args[0], args[1:]...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
	}
	return true
}

// shellWords splits a command line as sh would for the guide's commands:
// words, '...' and "..." quoting, a # comment after a space.
func shellWords(line string) []string {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for i, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '#' && (i == 0 || line[i-1] == ' '):
			if inWord {
				out = append(out, cur.String())
			}
			return out
		case r == ' ' || r == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}
