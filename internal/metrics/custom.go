package metrics

import (
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heimdallgw/heimdall/internal/wasm/abi"
	"github.com/heimdallgw/heimdall/internal/wasm/host"
)

// CustomPrefix is the stat prefix Envoy gives metrics wasm plugins define.
const CustomPrefix = "wasmcustom."

// CustomName maps a plugin-defined metric name to a Prometheus name and
// labels. Envoy stores it as the stat "wasmcustom.<name>"; Heimdall then
// extracts tags and flattens the name:
//
//   - the name is split on "."; every segment of the form key=value, with
//     key a valid label name, becomes the label key="value" and leaves the
//     name (a later segment with the same key wins);
//   - the remaining segments are joined with "_", after "wasmcustom", and
//     every character outside [a-zA-Z0-9_:] becomes "_" (as Envoy's
//     Prometheus output sanitizes stat names).
//
// So "wasm_filter.cache.hits.route=1" is wasmcustom_wasm_filter_cache_hits
// with route="1", and "a.b-c" is wasmcustom_a_b_c.
func CustomName(name string) (string, map[string]string) {
	var b strings.Builder
	b.WriteString("wasmcustom")
	var labels map[string]string
	for seg := range strings.SplitSeq(name, ".") {
		if k, v, ok := strings.Cut(seg, "="); ok && validLabel(k) {
			if labels == nil {
				labels = map[string]string{}
			}
			labels[k] = v
			continue
		}
		if seg == "" {
			continue
		}
		b.WriteByte('_')
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == ':' {
				b.WriteByte(c)
			} else {
				b.WriteByte('_')
			}
		}
	}
	return b.String(), labels
}

func validLabel(k string) bool {
	if k == "" || strings.HasPrefix(k, "__") {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= '0' && c <= '9' && i > 0) {
			return false
		}
	}
	return true
}

// customSet gathers the plugin-defined metrics of one scrape. Series with
// the same name and labels (several plugins defining the same stat, as
// Envoy shares one stats store) are added up; a family gets the union of
// its series' label names (missing ones are ""), as the exposition format
// requires one label set per family. A name first seen with another type
// is dropped for the later type.
type customSet struct {
	fams  map[string]*customFamily
	order []string
}

type customFamily struct {
	typ    abi.MetricType
	keys   map[string]bool
	series map[string]*customSeries // by encoded labels
}

type customSeries struct {
	labels     map[string]string
	value      int64
	count, sum uint64
}

func newCustomSet() *customSet { return &customSet{fams: map[string]*customFamily{}} }

func (s *customSet) add(x host.Metric) {
	name, labels := CustomName(x.Name)
	f := s.fams[name]
	if f == nil {
		f = &customFamily{typ: x.Type, keys: map[string]bool{}, series: map[string]*customSeries{}}
		s.fams[name] = f
		s.order = append(s.order, name)
	}
	if f.typ != x.Type {
		return
	}
	ks := make([]string, 0, len(labels))
	for k := range labels {
		f.keys[k] = true
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var id strings.Builder
	for _, k := range ks {
		id.WriteString(k + "\x00" + labels[k] + "\x00")
	}
	se := f.series[id.String()]
	if se == nil {
		se = &customSeries{labels: labels}
		f.series[id.String()] = se
	}
	se.value += x.Value
	se.count += x.Count
	se.sum += x.Sum
}

func (s *customSet) collect(ch chan<- prometheus.Metric) {
	for _, name := range s.order {
		f := s.fams[name]
		keys := make([]string, 0, len(f.keys))
		for k := range f.keys {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		help := "wasm plugin metric " + name
		desc := prometheus.NewDesc(name, help, keys, nil)
		for _, se := range f.series {
			vals := make([]string, len(keys))
			for i, k := range keys {
				vals[i] = se.labels[k]
			}
			var m prometheus.Metric
			var err error
			switch f.typ {
			case abi.MetricCounter:
				m, err = prometheus.NewConstMetric(desc, prometheus.CounterValue, float64(se.value), vals...)
			case abi.MetricGauge:
				m, err = prometheus.NewConstMetric(desc, prometheus.GaugeValue, float64(se.value), vals...)
			default:
				// The host keeps a histogram's count and sum, not its
				// distribution: only the +Inf bucket is exported.
				m, err = prometheus.NewConstHistogram(desc, se.count, float64(se.sum), nil, vals...)
			}
			if err == nil {
				ch <- m
			}
		}
	}
}
