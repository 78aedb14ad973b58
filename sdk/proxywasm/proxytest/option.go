// Package proxytest runs a proxy-wasm plugin natively, in the test process,
// against an in-memory host: the same SDK dispatch and host-call code the
// plugin runs in a gateway, with the ABI's host functions emulated. A test
// creates an emulator for its VMContext, drives plugin and HTTP stream
// callbacks, and inspects headers, bodies, local responses, properties,
// logs, shared data, metrics and dispatched HTTP calls.
//
//	host, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().
//		WithVMContext(&myVM{}).
//		WithPluginConfiguration([]byte(`{"k":"v"}`)))
//	defer reset()
//	if !host.StartPlugin() { t.Fatal("conf rejected") }
//	id := host.InitializeHttpContext()
//	action := host.CallOnRequestHeaders(id, [][2]string{{":path", "/"}}, true)
//
// The SDK keeps its contexts in module-level state (a wasm module has one
// instance of them), so emulators are serialized: NewHostEmulator blocks
// while another one is alive in the same test binary, and reset releases
// it. Tests using it cannot usefully run in parallel.
//
// Like the gateway, the emulator lower-cases header names. It follows
// Envoy's proxy-wasm host where the ABI leaves room (body splicing, a local
// response ends the stream). TCP streams are not emulated.
package proxytest

import (
	"maps"
	"strings"
	"time"

	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

// EmulatorOption configures a HostEmulator. Each With method returns a
// modified copy, so options can be shared between tests.
type EmulatorOption struct {
	vm         types.VMContext
	vmConf     []byte
	pluginConf []byte
	logLevel   types.LogLevel
	properties map[string][]byte
	clock      func() time.Time
	foreign    map[string]func([]byte) ([]byte, error)
}

// NewEmulatorOption returns the defaults: no configuration, log level
// trace (everything is recorded), the system clock.
func NewEmulatorOption() *EmulatorOption {
	return &EmulatorOption{logLevel: types.LogLevelTrace, clock: time.Now}
}

func (o *EmulatorOption) clone() *EmulatorOption {
	c := *o
	c.properties = maps.Clone(o.properties)
	c.foreign = maps.Clone(o.foreign)
	return &c
}

// WithVMContext sets the plugin under test.
func (o *EmulatorOption) WithVMContext(vm types.VMContext) *EmulatorOption {
	c := o.clone()
	c.vm = vm
	return c
}

// WithVMConfiguration sets what GetVMConfiguration returns.
func (o *EmulatorOption) WithVMConfiguration(conf []byte) *EmulatorOption {
	c := o.clone()
	c.vmConf = conf
	return c
}

// WithPluginConfiguration sets what GetPluginConfiguration returns.
func (o *EmulatorOption) WithPluginConfiguration(conf []byte) *EmulatorOption {
	c := o.clone()
	c.pluginConf = conf
	return c
}

// WithLogLevel sets the host log level: GetLogLevel returns it and less
// severe messages are not recorded.
func (o *EmulatorOption) WithLogLevel(level types.LogLevel) *EmulatorOption {
	c := o.clone()
	c.logLevel = level
	return c
}

// WithProperty presets a host property.
func (o *EmulatorOption) WithProperty(path []string, value []byte) *EmulatorOption {
	c := o.clone()
	if c.properties == nil {
		c.properties = map[string][]byte{}
	}
	c.properties[propertyKey(path)] = value
	return c
}

// WithClock sets the clock behind GetCurrentTime.
func (o *EmulatorOption) WithClock(now func() time.Time) *EmulatorOption {
	c := o.clone()
	c.clock = now
	return c
}

// WithForeignFunction registers a function CallForeignFunction can call.
func (o *EmulatorOption) WithForeignFunction(name string, fn func(args []byte) ([]byte, error)) *EmulatorOption {
	c := o.clone()
	if c.foreign == nil {
		c.foreign = map[string]func([]byte) ([]byte, error){}
	}
	c.foreign[name] = fn
	return c
}

func propertyKey(path []string) string { return strings.Join(path, "\x00") }
