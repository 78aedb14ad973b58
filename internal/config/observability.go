package config

import (
	"net/netip"
	"strings"

	"gopkg.in/yaml.v3"
)

// PluginAttr is the `plugin_attr:` section. Only prometheus is read.
type PluginAttr struct {
	Prometheus Prometheus
}

// Prometheus is `plugin_attr.prometheus`, as in APISIX:
//
//	plugin_attr:
//	  prometheus:
//	    export_uri: /apisix/prometheus/metrics   # also served: /metrics
//	    metric_prefix: apisix_                   # prefix of the APISIX-named metrics
//	    enable_export_server: true               # false: no metrics listener at all
//	    export_addr: {ip: 127.0.0.1, port: 9091}
//	    default_buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000]  # ms
//
// APISIX serves the route metrics only for routes that enable its
// prometheus plugin (or through a global rule); Heimdall always counts every
// request. APISIX's `metrics.<name>.extra_labels` is not supported (an
// unknown-field error), so the label sets are fixed.
type Prometheus struct {
	ExportURI          string
	MetricPrefix       string
	EnableExportServer bool
	ExportAddr         Listen
	// DefaultBuckets are the apisix_http_latency bucket bounds in
	// milliseconds, strictly increasing.
	DefaultBuckets []float64
}

// Status is `apisix.status`, the status API (APISIX 3.x):
//
//	apisix:
//	  status:
//	    ip: 127.0.0.1   # default
//	    port: 7085      # default
//
// As in APISIX the listener exists only when the section is written.
type Status struct {
	Enable bool // the section is present
	Listen Listen
}

// Defaults of plugin_attr.prometheus and apisix.status.
const (
	DefaultExportURI    = "/apisix/prometheus/metrics"
	DefaultMetricPrefix = "apisix_"
	DefaultExportIP     = "127.0.0.1"
	DefaultExportPort   = 9091
	DefaultStatusIP     = "127.0.0.1"
	DefaultStatusPort   = 7085
)

// DefaultLatencyBuckets are APISIX's DEFAULT_BUCKETS (milliseconds).
func DefaultLatencyBuckets() []float64 {
	return []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000}
}

func defaultPluginAttr() PluginAttr {
	return PluginAttr{Prometheus: Prometheus{
		ExportURI:          DefaultExportURI,
		MetricPrefix:       DefaultMetricPrefix,
		EnableExportServer: true,
		ExportAddr:         Listen{IP: DefaultExportIP, Port: DefaultExportPort},
		DefaultBuckets:     DefaultLatencyBuckets(),
	}}
}

func (d *decoder) decodePluginAttr(n *yaml.Node, path string, pa *PluginAttr) {
	d.mapping(n, path, field{"prometheus", func(v *yaml.Node, p string) {
		pr := &pa.Prometheus
		d.mapping(v, p,
			field{"export_uri", func(v *yaml.Node, p string) {
				if s, ok := d.str(v, p); ok {
					if !strings.HasPrefix(s, "/") {
						d.errorf(resolve(v), p, "must be a path starting with /, got %q", s)
						return
					}
					pr.ExportURI = s
				}
			}},
			field{"metric_prefix", func(v *yaml.Node, p string) {
				if s, ok := d.str(v, p); ok {
					if !validMetricPrefix(s) {
						d.errorf(resolve(v), p, "invalid metric prefix %q; allowed: letters, digits, _ and :, not starting with a digit", s)
						return
					}
					pr.MetricPrefix = s
				}
			}},
			field{"enable_export_server", func(v *yaml.Node, p string) {
				if b, ok := d.boolean(v, p); ok {
					pr.EnableExportServer = b
				}
			}},
			field{"export_addr", func(v *yaml.Node, p string) {
				d.decodeAddr(v, p, &pr.ExportAddr)
			}},
			field{"default_buckets", func(v *yaml.Node, p string) {
				items, ok := d.sequence(v, p)
				if !ok {
					return
				}
				if len(items) == 0 {
					d.errorf(resolve(v), p, "needs at least one bucket bound")
					return
				}
				bs := make([]float64, 0, len(items))
				for i, it := range items {
					f, ok := d.number(it, index(p, i))
					if !ok {
						return
					}
					if f <= 0 || (len(bs) > 0 && f <= bs[len(bs)-1]) {
						d.errorf(resolve(it), index(p, i), "bucket bounds must be positive and strictly increasing, got %v after %v", f, bs)
						return
					}
					bs = append(bs, f)
				}
				pr.DefaultBuckets = bs
			}},
		)
	}})
}

// decodeStatus decodes `apisix.status`; its presence turns the status API on.
func (d *decoder) decodeStatus(n *yaml.Node, path string, s *Status) {
	s.Enable = true
	s.Listen = Listen{IP: DefaultStatusIP, Port: DefaultStatusPort}
	d.decodeAddr(n, path, &s.Listen)
}

// decodeAddr decodes {ip, port} into l, keeping l's values for missing keys.
func (d *decoder) decodeAddr(n *yaml.Node, path string, l *Listen) {
	d.mapping(n, path,
		field{"ip", func(v *yaml.Node, p string) {
			if s, ok := d.str(v, p); ok {
				s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
				if _, err := netip.ParseAddr(s); err != nil {
					d.errorf(resolve(v), p, "invalid IP address %q", s)
					return
				}
				l.IP = s
			}
		}},
		field{"port", func(v *yaml.Node, p string) {
			if port, ok := d.port(v, p); ok {
				l.Port = port
			}
		}},
	)
}

// validMetricPrefix reports whether s may start a Prometheus metric name.
func validMetricPrefix(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == ':':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
