package proxywasm

import "github.com/heimdallgw/heimdall/sdk/proxywasm/types"

// MetricCounter is a monotonically increasing host metric.
type MetricCounter uint32

// MetricGauge is a host metric that goes up and down.
type MetricGauge uint32

// MetricHistogram is a host metric recording a distribution of values.
type MetricHistogram uint32

func defineMetric(mt types.MetricType, name string) (uint32, error) {
	id, st := host().DefineMetric(mt, name)
	return id, statusErr("proxy_define_metric", st)
}

// DefineCounterMetric defines (or finds) the counter name.
func DefineCounterMetric(name string) (MetricCounter, error) {
	id, err := defineMetric(types.MetricTypeCounter, name)
	return MetricCounter(id), err
}

// DefineGaugeMetric defines (or finds) the gauge name.
func DefineGaugeMetric(name string) (MetricGauge, error) {
	id, err := defineMetric(types.MetricTypeGauge, name)
	return MetricGauge(id), err
}

// DefineHistogramMetric defines (or finds) the histogram name.
func DefineHistogramMetric(name string) (MetricHistogram, error) {
	id, err := defineMetric(types.MetricTypeHistogram, name)
	return MetricHistogram(id), err
}

// Increment adds delta to the counter.
func (m MetricCounter) Increment(delta uint64) error {
	return statusErr("proxy_increment_metric", host().IncrementMetric(uint32(m), int64(delta)))
}

// Value returns the counter's value.
func (m MetricCounter) Value() (uint64, error) {
	v, st := host().GetMetric(uint32(m))
	return v, statusErr("proxy_get_metric", st)
}

// Add changes the gauge by delta (which may be negative).
func (m MetricGauge) Add(delta int64) error {
	return statusErr("proxy_increment_metric", host().IncrementMetric(uint32(m), delta))
}

// Set sets the gauge.
func (m MetricGauge) Set(value int64) error {
	return statusErr("proxy_record_metric", host().RecordMetric(uint32(m), uint64(value)))
}

// Value returns the gauge's value.
func (m MetricGauge) Value() (int64, error) {
	v, st := host().GetMetric(uint32(m))
	return int64(v), statusErr("proxy_get_metric", st)
}

// Record records one value.
func (m MetricHistogram) Record(value uint64) error {
	return statusErr("proxy_record_metric", host().RecordMetric(uint32(m), value))
}
