package metrics

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heimdallgw/heimdall/internal/wasm/host"
)

// Plugin is what the wasm collector reads from a loaded plugin; the gateway
// passes *host.Plugin.
type Plugin interface {
	Name() string
	// InstanceStates reports each pool slot (busy, live, memory)
	// without waiting for running callbacks.
	InstanceStates() []host.SlotState
	// Metrics are the plugin-defined metrics (proxy_define_metric).
	Metrics() []host.Metric
	// NetworkStats counts what the plugin's outbound policy refused.
	NetworkStats() host.NetworkStats
	// Stats are the plugin's failure and lifecycle counters.
	Stats() host.Stats
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
	read func(p Plugin, slots []slotView) float64
}

// slotView is a slot at scrape time; a busy slot shows the memory it had
// when last seen idle.
type slotView struct {
	host.SlotState
	mem uint32
}

var (
	descInstances = prometheus.NewDesc("heimdall_wasm_instances",
		"Wasm instance pool slots of a plugin by state: busy (running a callback), idle (an instance waiting for work) or empty (no instance; created on next use)",
		[]string{"plugin", "state"}, nil)
	descRefusals = prometheus.NewDesc("heimdall_wasm_network_refusals_total",
		"Outbound calls of a plugin refused by its network policy, by operation (http_call, redis_init, redis_call, sock_connect, ...)",
		[]string{"plugin", "op"}, nil)
	descMemory = prometheus.NewDesc("heimdall_wasm_memory_bytes",
		"Linear memory size of each live wasm instance, by pool slot (for a busy slot, as last seen idle)",
		[]string{"plugin", "slot"}, nil)

	pluginStats = []pluginStat{
		{prometheus.NewDesc("heimdall_wasm_pool_slots", "Instance pool size of a plugin (pool_size)", []string{"plugin"}, nil),
			prometheus.GaugeValue, func(_ Plugin, ss []slotView) float64 { return float64(len(ss)) }},
		{prometheus.NewDesc("heimdall_wasm_memory_bytes_total", "Linear memory of all live instances of a plugin", []string{"plugin"}, nil),
			prometheus.GaugeValue, func(_ Plugin, ss []slotView) float64 { return float64(sumMem(ss)) }},
		{prometheus.NewDesc("heimdall_wasm_memory_bytes_max", "Largest linear memory of one live instance of a plugin", []string{"plugin"}, nil),
			prometheus.GaugeValue, func(_ Plugin, ss []slotView) float64 { return float64(maxMem(ss)) }},
		{prometheus.NewDesc("heimdall_wasm_http_calls_pending", "proxy_http_calls of a plugin waiting for their answer", []string{"plugin"}, nil),
			prometheus.GaugeValue, func(p Plugin, _ []slotView) float64 { return float64(p.NetworkStats().HTTPCallsPending) }},
		{prometheus.NewDesc("heimdall_wasm_http_calls_over_limit_total", "proxy_http_calls of a plugin refused because network.max_pending_http_calls were waiting", []string{"plugin"}, nil),
			prometheus.CounterValue, func(p Plugin, _ []slotView) float64 { return float64(p.NetworkStats().HTTPCallsOverLimit) }},
		{prometheus.NewDesc("heimdall_wasm_instantiations_total", "Wasm instances a plugin created (first ones and replacements)", []string{"plugin"}, nil),
			prometheus.CounterValue, func(p Plugin, _ []slotView) float64 { return float64(p.Stats().Instantiations) }},
		{prometheus.NewDesc("heimdall_wasm_traps_total", "Instances of a plugin discarded after a failed call (trap, proc_exit, misbehaving guest, runaway call); each is replaced", []string{"plugin"}, nil),
			prometheus.CounterValue, func(p Plugin, _ []slotView) float64 { return float64(p.Stats().Traps) }},
		{prometheus.NewDesc("heimdall_wasm_timeouts_total", "Guest calls of a plugin killed for running past call_timeout", []string{"plugin"}, nil),
			prometheus.CounterValue, func(p Plugin, _ []slotView) float64 { return float64(p.Stats().Timeouts) }},
		{prometheus.NewDesc("heimdall_wasm_recycles_total", "Instances of a plugin replaced because their memory grew past memory_recycle or the pool neared memory_budget", []string{"plugin"}, nil),
			prometheus.CounterValue, func(p Plugin, _ []slotView) float64 { return float64(p.Stats().Recycles) }},
		{prometheus.NewDesc("heimdall_wasm_backoff_rejects_total", "Requests that found a plugin's instance waiting out its restart backoff (they follow failure_policy)", []string{"plugin"}, nil),
			prometheus.CounterValue, func(p Plugin, _ []slotView) float64 { return float64(p.Stats().BackoffRejects) }},
		{prometheus.NewDesc("heimdall_wasm_failed_streams_total", "Requests a plugin failed on: answered 503 (fail_closed) or continued without it (fail_open)", []string{"plugin"}, nil),
			prometheus.CounterValue, func(p Plugin, _ []slotView) float64 { return float64(p.Stats().FailedStreams) }},
		{prometheus.NewDesc("heimdall_wasm_limits_exceeded_total", "Host calls of a plugin refused or cut for a limit (shared data, queue depth, log line)", []string{"plugin"}, nil),
			prometheus.CounterValue, func(p Plugin, _ []slotView) float64 { return float64(p.Stats().LimitsExceeded) }},
	}
)

// wasmCollector exports the heimdall_wasm_ metrics and the plugins' own
// (wasmcustom_) metrics. It is unchecked (Describe sends nothing): the
// plugin-defined metrics are only known at scrape time.
type wasmCollector struct {
	m *Metrics

	mu sync.Mutex // one scrape at a time updates lastMem
	// lastMem is each plugin slot's memory when last seen idle.
	lastMem map[string][]uint32
}

func (c *wasmCollector) Describe(chan<- *prometheus.Desc) {}

func (c *wasmCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lastMem == nil {
		c.lastMem = map[string][]uint32{}
	}
	ps := c.m.pluginList()
	custom := newCustomSet()
	for _, p := range ps {
		name := p.Name()
		states := p.InstanceStates()
		last := c.lastMem[name]
		if len(last) != len(states) {
			last = make([]uint32, len(states))
			c.lastMem[name] = last
		}
		views := make([]slotView, len(states))
		var busy, idle, empty int
		for i, st := range states {
			v := slotView{SlotState: st}
			switch {
			case st.Busy:
				busy++
				v.mem = last[i]
			case st.Live:
				idle++
				v.mem, last[i] = st.Memory, st.Memory
			default:
				empty++
				last[i] = 0
			}
			views[i] = v
			if v.mem > 0 {
				ch <- prometheus.MustNewConstMetric(descMemory, prometheus.GaugeValue, float64(v.mem), name, strconv.Itoa(i))
			}
		}
		ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(busy), name, "busy")
		ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(idle), name, "idle")
		ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(empty), name, "empty")
		for _, s := range pluginStats {
			ch <- prometheus.MustNewConstMetric(s.desc, s.typ, s.read(p, views), name)
		}
		for op, n := range p.NetworkStats().Refused {
			ch <- prometheus.MustNewConstMetric(descRefusals, prometheus.CounterValue, float64(n), name, op)
		}
		for _, x := range p.Metrics() {
			custom.add(x)
		}
	}
	custom.collect(ch)
}

func sumMem(ss []slotView) uint64 {
	var s uint64
	for _, v := range ss {
		s += uint64(v.mem)
	}
	return s
}

func maxMem(ss []slotView) uint32 {
	var m uint32
	for _, v := range ss {
		m = max(m, v.mem)
	}
	return m
}
