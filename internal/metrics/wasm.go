package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heimdallgw/heimdall/internal/wasm/host"
)

// Plugin is what the wasm collector reads from a loaded plugin; the gateway
// passes *host.Plugin.
type Plugin interface {
	Name() string
	// InstanceMemory is the linear memory size of each pool slot's
	// instance (0: no live instance).
	InstanceMemory() []uint32
	// Metrics are the plugin-defined metrics (proxy_define_metric).
	Metrics() []host.Metric
}

var _ Plugin = (*host.Plugin)(nil)

// SetPlugins replaces the plugins the wasm metrics are read from.
func (m *Metrics) SetPlugins(ps []Plugin) {
	m.mu.Lock()
	m.plugins = append([]Plugin(nil), ps...)
	m.mu.Unlock()
}

func (m *Metrics) pluginList() []Plugin {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.plugins
}

// pluginStat is one heimdall_wasm_ metric with one value per plugin, read
// at scrape time. Exporting another counter the host keeps is one entry
// here.
type pluginStat struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
	read func(p Plugin, mem []uint32) float64
}

var (
	descInstances = prometheus.NewDesc("heimdall_wasm_instances",
		"Wasm instances of a plugin by state: live (instantiated) or empty (a pool slot without one; instantiated on its next use)",
		[]string{"plugin", "state"}, nil)
	descMemory = prometheus.NewDesc("heimdall_wasm_memory_bytes",
		"Linear memory size of each live wasm instance, by pool slot",
		[]string{"plugin", "slot"}, nil)

	pluginStats = []pluginStat{
		{prometheus.NewDesc("heimdall_wasm_pool_slots", "Instance pool size of a plugin (pool_size)", []string{"plugin"}, nil),
			prometheus.GaugeValue, func(_ Plugin, mem []uint32) float64 { return float64(len(mem)) }},
		{prometheus.NewDesc("heimdall_wasm_memory_bytes_total", "Linear memory of all live instances of a plugin", []string{"plugin"}, nil),
			prometheus.GaugeValue, func(_ Plugin, mem []uint32) float64 { return float64(sum(mem)) }},
		{prometheus.NewDesc("heimdall_wasm_memory_bytes_max", "Largest linear memory of one live instance of a plugin", []string{"plugin"}, nil),
			prometheus.GaugeValue, func(_ Plugin, mem []uint32) float64 { return float64(maxOf(mem)) }},
	}
)

// wasmCollector exports the heimdall_wasm_ metrics and the plugins' own
// (wasmcustom_) metrics. It is unchecked (Describe sends nothing): the
// plugin-defined metrics are only known at scrape time.
type wasmCollector struct{ m *Metrics }

func (c *wasmCollector) Describe(chan<- *prometheus.Desc) {}

func (c *wasmCollector) Collect(ch chan<- prometheus.Metric) {
	ps := c.m.pluginList()
	custom := newCustomSet()
	for _, p := range ps {
		name := p.Name()
		mem := p.InstanceMemory()
		live := 0
		for slot, b := range mem {
			if b == 0 {
				continue
			}
			live++
			ch <- prometheus.MustNewConstMetric(descMemory, prometheus.GaugeValue, float64(b), name, strconv.Itoa(slot))
		}
		ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(live), name, "live")
		ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(len(mem)-live), name, "empty")
		for _, s := range pluginStats {
			ch <- prometheus.MustNewConstMetric(s.desc, s.typ, s.read(p, mem), name)
		}
		for _, x := range p.Metrics() {
			custom.add(x)
		}
	}
	custom.collect(ch)
}

func sum(xs []uint32) uint64 {
	var s uint64
	for _, x := range xs {
		s += uint64(x)
	}
	return s
}

func maxOf(xs []uint32) uint32 {
	var m uint32
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
