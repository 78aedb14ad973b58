package config

import (
	"testing"
)

func TestLoadDemoConfig(t *testing.T) {
	m, r, err := Load("../../conf/config.yaml")
	if err != nil {
		t.Fatalf("loading demo config: %v", err)
	}
	t.Logf("%+v", m)
	for _, rt := range r.Routes {
		t.Logf("%+v %+v %+v", rt, rt.Upstream, rt.ProxyRewrite)
	}
}
