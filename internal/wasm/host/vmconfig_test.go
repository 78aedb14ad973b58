package host

import (
	"strings"
	"testing"
)

// TestVMConfiguration: the plugin reads PluginConfig.VMConfig (config's
// wasm.plugins[].vm_config) with proxy_get_buffer_bytes(VmConfiguration)
// inside proxy_on_vm_start, with status OK, and on_vm_start gets its size.
func TestVMConfiguration(t *testing.T) {
	p, logs := loadConformance(t, PluginConfig{VMConfig: []byte("shards=4;mode=x")})
	newFactory(t, p, "")
	want := "conformance: vm_config shards=4;mode=x status 0"
	if !strings.Contains(logs.String(), want) {
		t.Fatalf("logs lack %q:\n%s", want, logs.String())
	}
}
