package host

import (
	"sync"

	"github.com/heimdallgw/heimdall/internal/wasm/abi"
)

// Metric is a snapshot of one metric a plugin defined.
type Metric struct {
	Name string
	Type abi.MetricType
	// Value is the counter or gauge value; for a histogram the last
	// recorded value.
	Value int64
	// Count and Sum summarize a histogram's recorded values.
	Count uint64
	Sum   uint64
}

type metrics struct {
	mu     sync.Mutex
	byName map[string]uint32
	list   []Metric // id = index + 1
}

// Metrics returns a snapshot of the plugin's metrics (all instances share them).
func (p *Plugin) Metrics() []Metric {
	p.metrics.mu.Lock()
	defer p.metrics.mu.Unlock()
	return append([]Metric(nil), p.metrics.list...)
}

func (m *metrics) lookup(id uint32) *Metric {
	if id == 0 || int(id) > len(m.list) {
		return nil
	}
	return &m.list[id-1]
}

// proxy_define_metric(type, name, name_len, *id)
func hDefineMetric(v *vm, s []uint64) abi.Status {
	t := abi.MetricType(s[0])
	if t > abi.MetricHistogram {
		return abi.StatusBadArgument
	}
	name, ok := v.readString(s[1], s[2])
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	m := &v.p.metrics
	m.mu.Lock()
	if m.byName == nil {
		m.byName = map[string]uint32{}
	}
	id, found := m.byName[name]
	if !found {
		m.list = append(m.list, Metric{Name: name, Type: t})
		id = uint32(len(m.list))
		m.byName[name] = id
	} else if m.list[id-1].Type != t {
		m.mu.Unlock()
		return abi.StatusBadArgument
	}
	m.mu.Unlock()
	if !v.writeU32(s[3], id) {
		return abi.StatusInvalidMemoryAccess
	}
	return abi.StatusOK
}

// proxy_increment_metric(id, i64 offset): counters only grow.
func hIncrementMetric(v *vm, s []uint64) abi.Status {
	m := &v.p.metrics
	m.mu.Lock()
	defer m.mu.Unlock()
	x := m.lookup(uint32(s[0]))
	if x == nil {
		return abi.StatusNotFound
	}
	d := int64(s[1])
	switch x.Type {
	case abi.MetricCounter:
		if d < 0 {
			return abi.StatusBadArgument
		}
		x.Value += d
	case abi.MetricGauge:
		x.Value += d
	default:
		return abi.StatusBadArgument
	}
	return abi.StatusOK
}

// proxy_record_metric(id, u64 value): sets a gauge or counter, records a
// histogram value.
func hRecordMetric(v *vm, s []uint64) abi.Status {
	m := &v.p.metrics
	m.mu.Lock()
	defer m.mu.Unlock()
	x := m.lookup(uint32(s[0]))
	if x == nil {
		return abi.StatusNotFound
	}
	x.Value = int64(s[1])
	if x.Type == abi.MetricHistogram {
		x.Count++
		x.Sum += s[1]
	}
	return abi.StatusOK
}

// proxy_get_metric(id, *u64)
func hGetMetric(v *vm, s []uint64) abi.Status {
	m := &v.p.metrics
	m.mu.Lock()
	x := m.lookup(uint32(s[0]))
	var val int64
	var t abi.MetricType
	if x != nil {
		val, t = x.Value, x.Type
	}
	m.mu.Unlock()
	if x == nil {
		return abi.StatusNotFound
	}
	if t == abi.MetricHistogram {
		return abi.StatusBadArgument
	}
	if !v.inst.WriteUint64(uint32(s[1]), uint64(val)) {
		return abi.StatusInvalidMemoryAccess
	}
	return abi.StatusOK
}
