package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"gopkg.in/yaml.v3"

	"github.com/heimdallgw/heimdall/internal/config"
	etcdstore "github.com/heimdallgw/heimdall/internal/store/etcd"
)

const configUsage = `usage: heimdall config <push|dump> [-c conf/config.yaml] [flags]

  push [apisix.yaml]   validate a standalone file (default heimdall.apisix_yaml), then write its
                       upstreams, services, plugin configs and routes into etcd (deployment.etcd of config.yaml): the
                       migration from standalone to cluster mode. Objects already in etcd and
                       absent from the file are left alone.
  dump [-o FILE]       etcd's routes, upstreams, services and plugin configs as a standalone apisix.yaml (with #END),
                       on standard output or into FILE.
`

// txnOps stays below etcd's default --max-txn-ops (128).
const txnOps = 100

func cmdConfig(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "push" && args[0] != "dump") {
		fmt.Fprint(stderr, configUsage)
		return 2
	}
	verb := args[0]
	fs := flag.NewFlagSet("config "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := fs.String("c", defaultConfig, "path to config.yaml (its deployment.etcd is used)")
	outFile := fs.String("o", "", "dump: write to this file instead of standard output")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	m, err := config.LoadMain(*c)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	p, err := etcdstore.New(m, etcdstore.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(ctx, m.Deployment.Etcd.Timeout)
	defer cancel()
	target := fmt.Sprintf("etcd %s prefix %s", strings.Join(m.Deployment.Etcd.Host, ","), m.Deployment.Etcd.Prefix)
	if verb == "push" {
		file := m.Heimdall.APISIXYAML
		if fs.NArg() > 0 {
			file = fs.Arg(0)
		}
		nu, nr, err := pushFile(ctx, p.Client(), m, file)
		if err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: %d routes and %d upstreams, services and plugin configs written to %s\n", file, nr, nu, target)
		return 0
	}
	data, err := dump(ctx, p.Client(), m.Deployment.Etcd.Prefix)
	if err != nil {
		fmt.Fprintf(stderr, "heimdall config dump: %s: %v\n", target, err)
		return 1
	}
	if *outFile == "" {
		stdout.Write(data)
		return 0
	}
	if err := os.WriteFile(*outFile, data, 0o644); err != nil {
		fmt.Fprintf(stderr, "heimdall config dump: %v\n", err)
		return 1
	}
	return 0
}

// pushFile validates file as `validate` does, then writes its objects.
func pushFile(ctx context.Context, cli *clientv3.Client, m *config.Main, file string) (int, int, error) {
	if _, err := config.LoadRoutes(file, m); err != nil {
		return 0, 0, err // every problem, file:line:col; nothing was written
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, 0, err
	}
	var doc struct {
		Routes        []map[string]any `yaml:"routes"`
		Upstreams     []map[string]any `yaml:"upstreams"`
		Services      []map[string]any `yaml:"services"`
		PluginConfigs []map[string]any `yaml:"plugin_configs"`
		Plugins       any              `yaml:"plugins"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return 0, 0, fmt.Errorf("%s: %v", file, err)
	}
	if doc.Plugins != nil {
		return 0, 0, fmt.Errorf("%s: the plugins section has no etcd equivalent in Heimdall yet; remove it to push (routes may then use every plugin of config.yaml)", file)
	}
	now := time.Now().Unix()
	var ops []clientv3.Op
	add := func(kind string, objs []map[string]any) error {
		for _, o := range objs {
			id := fmt.Sprint(o["id"])
			o["id"] = id
			if _, ok := o["create_time"]; !ok {
				o["create_time"] = now
			}
			o["update_time"] = now
			v, err := json.Marshal(o)
			if err != nil {
				return fmt.Errorf("%s: %s %s: %v", file, kind, id, err)
			}
			ops = append(ops, clientv3.OpPut(m.Deployment.Etcd.Prefix+"/"+kind+"/"+id, string(v)))
		}
		return nil
	}
	// What routes refer to first, so that no watcher sees a route before it.
	for _, k := range []struct {
		kind string
		objs []map[string]any
	}{
		{config.KindUpstreams, doc.Upstreams}, {config.KindServices, doc.Services},
		{config.KindPluginConfigs, doc.PluginConfigs}, {config.KindRoutes, doc.Routes},
	} {
		if err := add(k.kind, k.objs); err != nil {
			return 0, 0, err
		}
	}
	for len(ops) > 0 {
		n := min(len(ops), txnOps)
		if _, err := cli.Txn(ctx).Then(ops[:n]...).Commit(); err != nil {
			return 0, 0, fmt.Errorf("writing to etcd: %w", err)
		}
		ops = ops[n:]
	}
	return len(doc.Upstreams) + len(doc.Services) + len(doc.PluginConfigs), len(doc.Routes), nil
}

// dump renders etcd's routes and upstreams as a standalone apisix.yaml.
func dump(ctx context.Context, cli *clientv3.Client, prefix string) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# heimdall config dump of etcd prefix %s at %s\n", prefix, time.Now().UTC().Format(time.RFC3339))
	for _, kind := range config.SupportedKinds {
		resp, err := cli.Get(ctx, prefix+"/"+kind+"/", clientv3.WithPrefix())
		if err != nil {
			return nil, err
		}
		kvs := slices.Clone(resp.Kvs)
		slices.SortStableFunc(kvs, func(a, b *mvccpb.KeyValue) int { return int(a.CreateRevision - b.CreateRevision) })
		var objs []any
		for _, kv := range kvs {
			var o map[string]any
			if err := json.Unmarshal(kv.Value, &o); err != nil {
				fmt.Fprintf(&b, "# %s is not a JSON object; left out\n", kv.Key)
				continue
			}
			delete(o, "create_time")
			delete(o, "update_time")
			objs = append(objs, o)
		}
		if len(objs) == 0 {
			continue
		}
		out, err := yaml.Marshal(map[string]any{kind: objs})
		if err != nil {
			return nil, err
		}
		b.Write(out)
	}
	b.WriteString("#END\n")
	return b.Bytes(), nil
}
