package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/store"
	etcdstore "github.com/heimdallgw/heimdall/internal/store/etcd"
)

// provider is where snapshots come from: apisix.yaml (the default) or etcd
// (deployment.role traditional, or data_plane with config_provider etcd).
type provider interface {
	// Load returns the first snapshot; an error stops the start-up.
	Load(ctx context.Context) (*store.Snapshot, error)
	// Run delivers later snapshots until ctx is done.
	Run(ctx context.Context) error
	Close() error
}

// newProvider chooses the provider for m. The etcd provider is also
// returned as such, for the Admin API (nil with apisix.yaml).
func newProvider(m *config.Main, logs *Logs, opts RunOptions, onChange func(*store.Snapshot)) (provider, *etcdstore.Provider, error) {
	if !m.Deployment.UsesEtcd() {
		return fileProvider{store.NewFile(m, store.FileOptions{
			Path:     opts.RoutesPath,
			Interval: opts.ReloadInterval,
			Logger:   logs.Error,
			OnChange: onChange,
		})}, nil, nil
	}
	if opts.RoutesPath != "" {
		return nil, nil, fmt.Errorf("%s: the routes come from etcd (deployment config_provider etcd); -routes %s applies to the yaml provider only", m.File, opts.RoutesPath)
	}
	p, err := etcdstore.New(m, etcdstore.Options{Logger: logs.Error, OnChange: onChange})
	if err != nil {
		return nil, nil, err
	}
	return p, p, nil
}

// ClusterStatus is what the etcd provider tells about its link to etcd:
// whether the last exchange succeeded, and when etcd last answered (a watch
// event or a health check), so that staleness is time.Since(LastContact()).
type ClusterStatus interface {
	Reachable() bool
	LastContact() time.Time
}

var _ ClusterStatus = (*etcdstore.Provider)(nil)

// fileProvider adapts store.File (whose Load needs no context).
type fileProvider struct{ *store.File }

func (f fileProvider) Load(context.Context) (*store.Snapshot, error) { return f.File.Load() }
func (f fileProvider) Close() error                                  { return nil }
