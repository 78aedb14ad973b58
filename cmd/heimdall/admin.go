package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/heimdallgw/heimdall/internal/config"
)

const adminUsage = `usage: heimdall admin <routes|upstreams|services|plugin_configs> <verb> [id] [flags]

verbs:
  list                 a table of every object
  get    <id>          the object as JSON ({"key", "value", "createdIndex", "modifiedIndex"})
  put    <id>  -f F    create or replace (F: YAML or JSON; "-" or no -f reads stdin)
  post         -f F    create with a generated id
  patch  <id>[/path] -f F   merge into the object, or replace the field at path (routes 1/plugins)
  delete <id>

flags (before or after the arguments):
  --server URL   Admin API address (default http://127.0.0.1:9180, or $HEIMDALL_ADMIN_SERVER)
  --key KEY      admin key (default $HEIMDALL_ADMIN_KEY)
  -f FILE        the object to send
`

// cmdAdmin is a client of the Admin API: errors are printed as the API sent
// them and exit 1.
func cmdAdmin(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, adminUsage) }
	server := fs.String("server", envOr("HEIMDALL_ADMIN_SERVER", "http://127.0.0.1:9180"), "Admin API address")
	key := fs.String("key", os.Getenv("HEIMDALL_ADMIN_KEY"), "admin key")
	file := fs.String("f", "", "object file (YAML or JSON), - for stdin")
	// Flags may come before, between or after the positional arguments.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) < 2 {
		fmt.Fprint(stderr, adminUsage)
		return 2
	}
	kind, verb, id := pos[0], pos[1], ""
	if len(pos) > 2 {
		id = pos[2]
	}
	if !slices.Contains(config.SupportedKinds, kind) {
		fmt.Fprintf(stderr, "heimdall admin: unknown object type %q; allowed: %s\n", kind, strings.Join(config.SupportedKinds, ", "))
		return 2
	}
	needID := map[string]bool{"list": false, "post": false, "get": true, "put": true, "patch": true, "delete": true}
	want, known := needID[verb]
	if !known || want != (id != "") || len(pos) > 3 {
		fmt.Fprint(stderr, adminUsage)
		return 2
	}
	if *key == "" {
		fmt.Fprintln(stderr, "heimdall admin: no admin key; pass --key or set HEIMDALL_ADMIN_KEY")
		return 2
	}
	method := map[string]string{"list": "GET", "get": "GET", "put": "PUT", "post": "POST", "patch": "PATCH", "delete": "DELETE"}[verb]
	var body []byte
	if method == "PUT" || method == "POST" || method == "PATCH" {
		var err error
		if body, err = readBody(*file, stdin); err != nil {
			fmt.Fprintf(stderr, "heimdall admin: %v\n", err)
			return 1
		}
	}
	url := strings.TrimSuffix(*server, "/") + "/apisix/admin/" + kind
	if id != "" {
		url += "/" + id
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, method, url, bytes.NewReader(body))
	if err != nil {
		fmt.Fprintf(stderr, "heimdall admin: %v\n", err)
		return 2
	}
	req.Header.Set("X-API-KEY", *key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "heimdall admin: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		fmt.Fprintf(stderr, "heimdall admin: reading the answer: %v\n", err)
		return 1
	}
	if resp.StatusCode/100 != 2 {
		fmt.Fprintf(stderr, "%s %s: %s\n%s\n", method, url, resp.Status, bytes.TrimSpace(data))
		return 1
	}
	if verb == "list" {
		if err := printTable(stdout, kind, data); err != nil {
			fmt.Fprintf(stderr, "heimdall admin: %v\n", err)
			return 1
		}
		return 0
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, data, "", "  ") != nil {
		pretty.Reset()
		pretty.Write(data)
	}
	fmt.Fprintln(stdout, strings.TrimSpace(pretty.String()))
	return 0
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// readBody reads a YAML or JSON object and returns it as JSON.
func readBody(file string, stdin io.Reader) ([]byte, error) {
	var (
		data []byte
		err  error
	)
	if file == "" || file == "-" {
		data, err = io.ReadAll(io.LimitReader(stdin, 1<<20+1))
		file = "standard input"
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, err
	}
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%s: not YAML or JSON: %v", file, err)
	}
	if v == nil {
		return nil, fmt.Errorf("%s: empty; expected an object", file)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	return out, nil
}

// printTable shows a list answer as one line per object.
func printTable(w io.Writer, kind string, data []byte) error {
	var list struct {
		List []struct {
			Value map[string]any `json:"value"`
		} `json:"list"`
		Total int `json:"total"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		return fmt.Errorf("unexpected answer: %v", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	switch kind {
	case "routes":
		fmt.Fprintln(tw, "ID\tURI\tHOSTS\tUPSTREAM\tPLUGINS\tUPDATED")
	case "upstreams":
		fmt.Fprintln(tw, "ID\tTYPE\tNODES\tUPDATED")
	default:
		fmt.Fprintln(tw, "ID\tDESC\tPLUGINS\tUPDATED")
	}
	for _, it := range list.List {
		v := it.Value
		updated := "-"
		if t, ok := v["update_time"].(float64); ok {
			updated = time.Unix(int64(t), 0).UTC().Format(time.RFC3339)
		}
		var plugins []string
		if m, ok := v["plugins"].(map[string]any); ok {
			for name := range m {
				plugins = append(plugins, name)
			}
		}
		slices.Sort(plugins)
		if kind != "routes" && kind != "upstreams" {
			desc, _ := v["desc"].(string)
			fmt.Fprintf(tw, "%v\t%s\t%s\t%s\n", v["id"], orDash(desc), orDash(strings.Join(plugins, ",")), updated)
			continue
		}
		if kind == "routes" {
			uris := join(append([]any{v["uri"]}, list2(v["uris"])...))
			hosts := join(append([]any{v["host"]}, list2(v["hosts"])...))
			up := "inline"
			if id, ok := v["upstream_id"]; ok {
				up = fmt.Sprint(id)
			}
			fmt.Fprintf(tw, "%v\t%s\t%s\t%s\t%s\t%s\n", v["id"], uris, hosts, up, orDash(strings.Join(plugins, ",")), updated)
			continue
		}
		typ := "roundrobin"
		if t, ok := v["type"].(string); ok {
			typ = t
		}
		var nodes []string
		switch n := v["nodes"].(type) {
		case map[string]any:
			for addr, weight := range n {
				nodes = append(nodes, fmt.Sprintf("%s=%v", addr, weight))
			}
		case []any:
			for _, x := range n {
				if m, ok := x.(map[string]any); ok {
					nodes = append(nodes, fmt.Sprintf("%v:%v=%v", m["host"], m["port"], m["weight"]))
				}
			}
		}
		slices.Sort(nodes)
		fmt.Fprintf(tw, "%v\t%s\t%s\t%s\n", v["id"], typ, orDash(strings.Join(nodes, ",")), updated)
	}
	fmt.Fprintf(tw, "(%d %s)\n", list.Total, kind)
	return tw.Flush()
}

func list2(v any) []any {
	l, _ := v.([]any)
	return l
}

func join(vs []any) string {
	var out []string
	for _, v := range vs {
		if v != nil {
			out = append(out, fmt.Sprint(v))
		}
	}
	return orDash(strings.Join(out, ","))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
