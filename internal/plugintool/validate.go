package plugintool

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/egress"
	"github.com/heimdallgw/heimdall/internal/wasm/engine"
	"github.com/heimdallgw/heimdall/internal/wasm/host"
	"github.com/heimdallgw/heimdall/internal/wasm/sockets"
)

// ValidatePlugins compiles every wasm plugin of m as the gateway does
// (the socket extension with its network policy, its body mode, call
// timeout and the configured compilation cache) and configures it with the
// conf of every route of r that uses it (proxy_on_configure). It returns
// one error per problem, each naming config.yaml or apisix.yaml with line
// and column. log receives the plugins' own log lines (their reasons for a
// rejection); progress is told about slow compiles.
func ValidatePlugins(ctx context.Context, m *config.Main, r *config.Routes, log *slog.Logger, progress Progress) []error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var cache *engine.Cache
	var err error
	switch dir := m.Heimdall.WasmCacheDir; dir {
	case config.WasmCacheOff:
		cache = engine.NewMemoryCache()
	default:
		if cache, err = engine.NewCache(dir); err != nil {
			cache = engine.NewMemoryCache()
		}
	}
	defer cache.Close(context.WithoutCancel(ctx))
	var errs []error
	for i := range m.Wasm.Plugins {
		wp := &m.Wasm.Plugins[i]
		where := fmt.Sprintf("%s:%d:%d: wasm.plugins[%d] %s", m.File, wp.Line, wp.Column, i, wp.Name)
		wasm, err := os.ReadFile(wp.File)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d:%d: wasm.plugins[%d].file: cannot read %s (wrong path, or not built yet? `make plugins` builds the bundled ones)",
				m.File, wp.Line, wp.Column, i, wp.File))
			continue
		}
		ec := egress.FromConfig(wp.Name, wp.Network)
		ec.Logger = log
		eg, err := egress.New(ec)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: network: %w", where, err))
			continue
		}
		ext, err := sockets.New(ctx, sockets.Options{Plugin: wp.Name, Policy: sockets.LimitsFromConfig(wp.Network), Egress: eg, Logger: log})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: network: %w", where, err))
			continue
		}
		var p *host.Plugin
		err = Compiling(progress, wp.Name, len(wasm), func() (err error) {
			p, err = host.Load(ctx, host.PluginConfig{
				Name:             wp.Name,
				Wasm:             wasm,
				PoolSize:         1,
				BodyMode:         host.BodyMode(wp.Body),
				CallTimeout:      wp.CallTimeout,
				Uninterruptible:  wp.CallTimeout == 0,
				MemoryLimitPages: uint32((wp.MemoryLimit + 1<<16 - 1) >> 16),
				Limits:           host.Limits{SharedDataBytes: wp.MaxSharedDataBytes, SharedDataKeys: wp.MaxSharedDataKeys, QueueDepth: wp.MaxQueueDepth, LogLine: int(wp.MaxLogLine), BodyBuffer: int(wp.BodyBufferLimit)},
				Cache:            cache,
				Extensions:       []engine.Extension{ext},
				Egress:           eg,
			}, log)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		if r != nil {
			for _, rt := range r.Routes {
				for _, w := range rt.Wasm {
					if w.Name != wp.Name {
						continue
					}
					f, err := p.NewFactory(ctx, rt.ID, []byte(w.Conf))
					if err != nil {
						errs = append(errs, fmt.Errorf("%s:%d:%d: route %s: plugin %s: %w", r.File, rt.Line, rt.Column, rt.ID, w.Name, err))
						continue
					}
					f.Close()
				}
			}
		}
		p.Close(context.WithoutCancel(ctx))
	}
	return errs
}
