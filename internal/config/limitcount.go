package config

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// PluginLimitCount is the built-in limit-count plugin.
const PluginLimitCount = "limit-count"

// LimitCount is the built-in limit-count plugin (APISIX 3.x schema): at most
// Count requests per TimeWindow seconds for each key, fixed windows.
//
//	limit-count:
//	  count: 2
//	  time_window: 60
//	  key_type: var            # var (default), var_combination, constant
//	  key: remote_addr         # default
//	  rejected_code: 503       # default
//	  rejected_msg: "slow down"
//	  show_limit_quota_header: true  # default
//	  policy: local            # only local for now
type LimitCount struct {
	Count                int
	TimeWindow           int // seconds
	KeyType              string
	Key                  string
	RejectedCode         int
	RejectedMsg          string
	ShowLimitQuotaHeader bool
	Policy               string
}

// Key types of limit-count (and limit-req, limit-conn).
const (
	KeyTypeVar            = "var"
	KeyTypeVarCombination = "var_combination"
	KeyTypeConstant       = "constant"
)

func (d *decoder) decodeLimitCount(n *yaml.Node, path string) *LimitCount {
	lc := &LimitCount{KeyType: KeyTypeVar, Key: "remote_addr", RejectedCode: 503, ShowLimitQuotaHeader: true, Policy: "local"}
	before := len(d.errs)
	positive := func(v *yaml.Node, p string, dst *int) {
		if i, ok := d.integer(v, p); ok {
			if i <= 0 {
				d.errorf(resolve(v), p, "must be > 0, got %d", i)
				return
			}
			*dst = i
		}
	}
	ok := d.mapping(n, path,
		field{"count", func(v *yaml.Node, p string) { positive(v, p, &lc.Count) }},
		field{"time_window", func(v *yaml.Node, p string) { positive(v, p, &lc.TimeWindow) }},
		field{"key_type", func(v *yaml.Node, p string) {
			if s, ok := d.oneOf(v, p, "key_type", KeyTypeVar, KeyTypeVarCombination, KeyTypeConstant); ok {
				lc.KeyType = s
			}
		}},
		field{"key", func(v *yaml.Node, p string) {
			if s, ok := d.str(v, p); ok {
				if s == "" {
					d.errorf(resolve(v), p, "must not be empty")
					return
				}
				lc.Key = s
			}
		}},
		field{"rejected_code", func(v *yaml.Node, p string) {
			if c, ok := d.integer(v, p); ok {
				if c < 200 || c > 599 {
					d.errorf(resolve(v), p, "must be between 200 and 599, got %d", c)
					return
				}
				lc.RejectedCode = c
			}
		}},
		field{"rejected_msg", func(v *yaml.Node, p string) {
			if s, ok := d.str(v, p); ok {
				if s == "" {
					d.errorf(resolve(v), p, "must not be empty (APISIX's minLength 1)")
					return
				}
				lc.RejectedMsg = s
			}
		}},
		field{"show_limit_quota_header", func(v *yaml.Node, p string) {
			if b, ok := d.boolean(v, p); ok {
				lc.ShowLimitQuotaHeader = b
			}
		}},
		field{"policy", func(v *yaml.Node, p string) {
			s, ok := d.str(v, p)
			switch {
			case !ok:
			case s == "local":
				lc.Policy = s
			case s == "redis" || s == "redis-cluster":
				d.errorf(resolve(v), p, "policy %q is not supported yet; use policy: local (a counter per gateway process)", s)
			default:
				d.errorf(resolve(v), p, "unknown policy %q; allowed: local", s)
			}
		}},
		field{"allow_degradation", func(v *yaml.Node, p string) { d.boolean(v, p) }},
	)
	if !ok {
		return nil
	}
	for _, req := range []string{"count", "time_window"} {
		if !hasKey(n, req) {
			d.errorf(resolve(n), join(path, req), "required")
		}
	}
	if lc.KeyType == KeyTypeVar && strings.HasPrefix(lc.Key, "$") {
		d.errorf(resolve(n), join(path, "key"), "with key_type var the key is a variable name without $ (got %q); use key_type: var_combination for \"$a $b\"", lc.Key)
	}
	if len(d.errs) > before {
		return nil
	}
	return lc
}
