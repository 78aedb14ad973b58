package plugintool

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/heimdallgw/heimdall/internal/wasm/abi"
	"github.com/heimdallgw/heimdall/internal/wasm/engine"
	"github.com/heimdallgw/heimdall/internal/wasm/host"
	"github.com/heimdallgw/heimdall/internal/wasm/inspect"
	"github.com/heimdallgw/heimdall/internal/wasm/instrument"
	"github.com/heimdallgw/heimdall/internal/wasm/sockets"
)

// Import statuses in Heimdall.
const (
	StatusImplemented   = "implemented"
	StatusUnimplemented = "Unimplemented"
	StatusUnknown       = "unknown"
	StatusBadSignature  = "signature mismatch"
)

// Report is what Inspect found; its JSON form is `plugin inspect --json`.
type Report struct {
	File     string `json:"file"`
	Size     int    `json:"size_bytes"`
	Loadable bool   `json:"loadable"`
	// Problems are why the plugin cannot load here, most important first.
	Problems []string `json:"problems,omitempty"`
	// Warnings do not stop loading.
	Warnings   []string     `json:"warnings,omitempty"`
	ABIMarkers []string     `json:"abi_markers"`
	ABIVersion string       `json:"abi_version"`
	SDK        SDKGuess     `json:"sdk"`
	Callbacks  []Callback   `json:"callbacks"`
	Exports    []ExportInfo `json:"exports"`
	Imports    []ImportInfo `json:"imports"`
	WASI       []string     `json:"wasi,omitempty"`
	Sockets    []string     `json:"sockets,omitempty"`
	Memory     *MemoryInfo  `json:"memory,omitempty"`
	Custom     []CustomInfo `json:"custom_sections,omitempty"`
	// Elsewhere is a verdict per other gateway (envoy, apisix, kong),
	// from the env imports and compat.tsv.
	Elsewhere  []GatewayVerdict `json:"elsewhere"`
	Instrument InstrumentInfo   `json:"loop_instrumentation"`
}

// GatewayVerdict says whether the plugin's env imports link in another
// gateway, and which of them do nothing useful there.
type GatewayVerdict struct {
	Gateway  string   `json:"gateway"`
	Loads    bool     `json:"loads"`
	Absent   []string `json:"absent,omitempty"`
	Inactive []string `json:"not_implemented,omitempty"` // unimpl, nop or nyi there
}

// SDKGuess names the toolchain and the evidence for it.
type SDKGuess struct {
	Name     string   `json:"name"`
	Evidence []string `json:"evidence"`
}

// Callback is one proxy-wasm callback, exported or not.
type Callback struct {
	Name     string `json:"name"`
	Exported bool   `json:"exported"`
	// Driven: Heimdall calls it (false: L4, gRPC and foreign callbacks,
	// which an HTTP gateway never calls).
	Driven bool `json:"driven"`
}

// ExportInfo is one export.
type ExportInfo struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Signature string `json:"signature,omitempty"`
}

// ImportInfo is one import and where it links.
type ImportInfo struct {
	Module    string `json:"module"`
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Signature string `json:"signature,omitempty"`
	Heimdall  string `json:"heimdall"`
	// Envoy, APISIX and Kong are from compat.tsv (env functions only).
	Envoy  string `json:"envoy,omitempty"`
	APISIX string `json:"apisix,omitempty"`
	Kong   string `json:"kong,omitempty"`
	Note   string `json:"note,omitempty"`
}

// MemoryInfo is the module's memory.
type MemoryInfo struct {
	Imported bool   `json:"imported"`
	Initial  uint64 `json:"initial_pages"`
	Max      uint64 `json:"max_pages,omitempty"`
	HasMax   bool   `json:"has_max"`
	Shared   bool   `json:"shared,omitempty"`
	// Limit is Heimdall's per-instance cap (engine.DefaultMemoryLimitPages).
	Limit uint32 `json:"heimdall_limit_pages"`
}

// CustomInfo is a custom section.
type CustomInfo struct {
	Name string `json:"name"`
	Size int    `json:"size_bytes"`
}

// InstrumentInfo says whether the cheap loop checks apply.
type InstrumentInfo struct {
	Applies bool   `json:"applies"`
	Loops   int    `json:"loops,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

//go:embed compat.tsv
var compatTSV string

type compatRow struct{ envoy, apisix, kong string }

func compatTable() map[string]compatRow {
	out := map[string]compatRow{}
	for _, line := range strings.Split(compatTSV, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			continue // TestCompatTable rejects such lines
		}
		out[f[0]] = compatRow{f[1], f[2], f[3]}
	}
	return out
}

// callbacks lists the proxy-wasm callbacks; driven says Heimdall calls it.
var callbacks = []struct {
	name   string
	driven bool
}{
	{"proxy_on_memory_allocate", true},
	{"proxy_on_context_create", true},
	{"proxy_on_vm_start", true},
	{"proxy_on_configure", true},
	{"proxy_on_request_headers", true},
	{"proxy_on_request_body", true},
	{"proxy_on_request_trailers", true},
	{"proxy_on_response_headers", true},
	{"proxy_on_response_body", true},
	{"proxy_on_response_trailers", true},
	{"proxy_on_log", true},
	{"proxy_on_done", true},
	{"proxy_on_delete", true},
	{"proxy_on_tick", true},
	{"proxy_on_http_call_response", true},
	{"proxy_on_queue_ready", true},
	{"proxy_on_redis_call_response", true},
	{"proxy_validate_configuration", false},
	{"proxy_on_request_metadata", false},
	{"proxy_on_response_metadata", false},
	{"proxy_on_new_connection", false},
	{"proxy_on_downstream_data", false},
	{"proxy_on_upstream_data", false},
	{"proxy_on_downstream_connection_close", false},
	{"proxy_on_upstream_connection_close", false},
	{"proxy_on_grpc_receive_initial_metadata", false},
	{"proxy_on_grpc_receive", false},
	{"proxy_on_grpc_receive_trailing_metadata", false},
	{"proxy_on_grpc_close", false},
	{"proxy_on_foreign_function", false},
}

// Inspect analyses a plugin binary. It never compiles or runs it: the
// statuses come from the host's registration tables (host.Functions,
// engine.WASIFunctions, sockets.FunctionNames), which are what engine.New
// links the plugin against.
func Inspect(ctx context.Context, file string, wasm []byte) (*Report, error) {
	r := &Report{File: file, Size: len(wasm)}
	m, err := inspect.Parse(wasm)
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
		return r, nil
	}
	wasi, err := engine.WASIFunctions(ctx)
	if err != nil {
		return nil, err
	}
	env := map[string]host.Function{}
	for _, f := range host.Functions() {
		env[f.Name] = f
	}
	compat := compatTable()

	// ABI version.
	for _, e := range m.Exports {
		if strings.HasPrefix(e.Name, "proxy_abi_version_") {
			r.ABIMarkers = append(r.ABIMarkers, e.Name)
		}
	}
	v, verr := abi.DetectVersion(m.HasFuncExport)
	r.ABIVersion = v.String()
	if verr != nil {
		r.Problems = append(r.Problems, verr.Error())
	}
	if !m.HasFuncExport("proxy_on_memory_allocate") && !m.HasFuncExport("malloc") {
		r.Problems = append(r.Problems, "exports neither proxy_on_memory_allocate nor malloc: the host cannot hand it data")
	}

	// Imports.
	var unknown []string
	for _, im := range m.Imports {
		ii := ImportInfo{Module: im.Module, Name: im.Name, Kind: im.Kind.String()}
		if im.Kind == inspect.KindFunc {
			ii.Signature = im.Type.String()
		}
		switch {
		case im.Kind != inspect.KindFunc:
			// The engine provides no memories, tables or globals.
			ii.Heimdall = StatusUnknown
			ii.Note = "Heimdall's host modules export functions only"
		case im.Module == engine.ModuleEnv:
			f, ok := env[im.Name]
			row, known := compat[im.Name]
			if known {
				ii.Envoy, ii.APISIX, ii.Kong = row.envoy, row.apisix, row.kong
			} else {
				ii.Envoy, ii.APISIX, ii.Kong = "absent?", "absent?", "absent?"
			}
			switch {
			case !ok:
				ii.Heimdall = StatusUnknown
			case !sameSig(im.Type, f.Params, f.Results):
				ii.Heimdall = StatusBadSignature
				ii.Note = "Heimdall has " + sigString(f.Params, f.Results)
			case f.Implemented:
				ii.Heimdall = StatusImplemented
			default:
				ii.Heimdall = StatusUnimplemented
			}
		case im.Module == engine.ModuleWASI || im.Module == engine.ModuleWASIUnstable:
			if counts := sockets.ParamCounts(im.Name); counts != nil {
				switch {
				case !slices.Contains(counts, len(im.Type.Params)):
					ii.Heimdall = StatusBadSignature
					ii.Note = fmt.Sprintf("Heimdall accepts %v parameters", counts)
				default:
					ii.Heimdall = StatusImplemented
				}
				if strings.HasPrefix(im.Name, "sock_") {
					r.Sockets = append(r.Sockets, im.Name)
					ii.Note = "WasmEdge socket ABI, under the plugin's network policy"
				} else {
					r.WASI = append(r.WASI, im.Module+"."+im.Name)
				}
				break
			}
			s, ok := wasi[im.Name]
			switch {
			case !ok:
				ii.Heimdall = StatusUnknown
			case !sameSig(im.Type, s.Params, s.Results):
				ii.Heimdall = StatusBadSignature
				ii.Note = "Heimdall has " + sigString(s.Params, s.Results)
			default:
				ii.Heimdall = StatusImplemented
			}
			r.WASI = append(r.WASI, im.Module+"."+im.Name)
		default:
			ii.Heimdall = StatusUnknown
			ii.Note = fmt.Sprintf("no host module %q", im.Module)
		}
		switch ii.Heimdall {
		case StatusUnknown:
			unknown = append(unknown, im.Module+"."+im.Name)
		case StatusBadSignature:
			r.Problems = append(r.Problems, fmt.Sprintf("imports %s.%s with signature %s; %s", im.Module, im.Name, ii.Signature, ii.Note))
		}
		r.Imports = append(r.Imports, ii)
	}
	r.WASI = dedupe(r.WASI)
	if len(unknown) > 0 {
		// First: it is the error the gateway gives.
		r.Problems = append([]string{"imports unknown function " + strings.Join(unknown, ", ")}, r.Problems...)
	}

	// Exports and callbacks.
	for _, e := range m.Exports {
		ei := ExportInfo{Name: e.Name, Kind: e.Kind.String()}
		if e.Kind == inspect.KindFunc {
			ei.Signature = e.Type.String()
		}
		r.Exports = append(r.Exports, ei)
	}
	for _, c := range callbacks {
		r.Callbacks = append(r.Callbacks, Callback{Name: c.name, Exported: m.HasFuncExport(c.name), Driven: c.driven})
	}
	if !m.HasFuncExport("_initialize") && !m.HasFuncExport("_start") && !m.HasStart {
		r.Warnings = append(r.Warnings, "no _initialize, _start or start section: nothing initialises the module")
	}

	// Memory.
	limit := uint32(engine.DefaultMemoryLimitPages)
	if len(m.Memories) > 0 {
		mem := m.Memories[0]
		r.Memory = &MemoryInfo{Imported: mem.Imported, Initial: mem.Min, Max: mem.Max, HasMax: mem.HasMax, Shared: mem.Shared, Limit: limit}
		if mem.Min > uint64(limit) {
			r.Problems = append(r.Problems, fmt.Sprintf("initial memory %d pages exceeds Heimdall's limit of %d pages (256 MiB)", mem.Min, limit))
		}
	} else {
		r.Warnings = append(r.Warnings, "no memory: the host cannot exchange data with it")
	}
	for _, c := range m.Custom {
		r.Custom = append(r.Custom, CustomInfo{Name: c.Name, Size: c.Size})
	}
	if _, st, err := instrument.InstrumentStats(wasm); err != nil {
		r.Instrument = InstrumentInfo{Reason: err.Error() + " (wazero's slower per-loop context checks are used instead)"}
	} else {
		r.Instrument = InstrumentInfo{Applies: true, Loops: st.Loops}
	}
	for _, gw := range []string{"envoy", "apisix", "kong"} {
		v := GatewayVerdict{Gateway: gw, Loads: true}
		for _, im := range r.Imports {
			if im.Module != engine.ModuleEnv || im.Kind != "func" {
				continue
			}
			st := map[string]string{"envoy": im.Envoy, "apisix": im.APISIX, "kong": im.Kong}[gw]
			switch st {
			case "yes":
			case "absent", "absent?":
				v.Loads = false
				v.Absent = append(v.Absent, im.Name)
			default:
				v.Inactive = append(v.Inactive, im.Name+" ("+st+")")
			}
		}
		r.Elsewhere = append(r.Elsewhere, v)
	}
	r.SDK = guessSDK(m)
	r.Loadable = len(r.Problems) == 0
	return r, nil
}

func dedupe(s []string) []string {
	sort.Strings(s)
	return slices.Compact(s)
}

func sameSig(t inspect.FuncType, params, results []engine.ValueType) bool {
	if len(t.Params) != len(params) || len(t.Results) != len(results) {
		return false
	}
	for i, p := range params {
		if byte(t.Params[i]) != byte(p) {
			return false
		}
	}
	for i, p := range results {
		if byte(t.Results[i]) != byte(p) {
			return false
		}
	}
	return true
}

func sigString(params, results []engine.ValueType) string {
	var t inspect.FuncType
	for _, p := range params {
		t.Params = append(t.Params, inspect.ValType(p))
	}
	for _, p := range results {
		t.Results = append(t.Results, inspect.ValType(p))
	}
	return t.String()
}

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the human-readable report: the verdict first.
func (r *Report) WriteText(w io.Writer) error {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	if r.Loadable {
		p("%s: loads in Heimdall\n", r.File)
	} else {
		p("%s: CANNOT LOAD in Heimdall: %s\n", r.File, strings.Join(r.Problems, "; "))
	}
	for _, x := range r.Warnings {
		p("warning: %s\n", x)
	}
	p("\nsize: %d bytes\n", r.Size)
	if len(r.ABIMarkers) > 0 {
		p("ABI: %s (markers: %s)\n", r.ABIVersion, strings.Join(r.ABIMarkers, ", "))
	} else {
		p("ABI: none (no proxy_abi_version_* export)\n")
	}
	p("SDK: %s\n", r.SDK.Name)
	for _, e := range r.SDK.Evidence {
		p("  evidence: %s\n", e)
	}
	if r.Memory != nil {
		m := r.Memory
		max := "none"
		if m.HasMax {
			max = fmt.Sprintf("%d pages", m.Max)
		}
		imp := "defined"
		if m.Imported {
			imp = "imported"
		}
		p("memory: %s, initial %d pages (%d KiB), max %s; Heimdall caps an instance at %d pages\n",
			imp, m.Initial, m.Initial*64, max, m.Limit)
	}
	if r.Instrument.Applies {
		p("loop instrumentation: applies (%d loops checked; call_timeout is enforced cheaply)\n", r.Instrument.Loops)
	} else if r.Instrument.Reason != "" {
		p("loop instrumentation: does not apply: %s\n", r.Instrument.Reason)
	}
	if len(r.WASI) > 0 {
		p("WASI:\n")
		byMod := map[string][]string{}
		var mods []string
		for _, f := range r.WASI {
			m, n, _ := strings.Cut(f, ".")
			if byMod[m] == nil {
				mods = append(mods, m)
			}
			byMod[m] = append(byMod[m], n)
		}
		for _, m := range mods {
			p("  %s: %s\n", m, strings.Join(byMod[m], ", "))
		}
	}
	if len(r.Sockets) > 0 {
		p("sockets (WasmEdge ABI; needs a network policy in config.yaml): %s\n", strings.Join(r.Sockets, ", "))
	} else {
		p("sockets: none\n")
	}
	p("elsewhere (env imports against compat.tsv):\n")
	for _, v := range r.Elsewhere {
		name := map[string]string{"envoy": "Envoy", "apisix": "APISIX", "kong": "Kong"}[v.Gateway]
		verdict := "loads"
		if !v.Loads {
			verdict = "cannot load: no " + strings.Join(v.Absent, ", ")
		}
		if len(v.Inactive) > 0 {
			verdict += "; not implemented there: " + strings.Join(v.Inactive, ", ")
		}
		p("  %s: %s\n", name, verdict)
	}
	p("\ncallbacks:\n")
	for _, c := range r.Callbacks {
		if !c.Exported && !c.Driven {
			continue
		}
		mark := "-"
		if c.Exported {
			mark = "+"
		}
		note := ""
		if c.Exported && !c.Driven {
			note = " (not called: Heimdall drives HTTP streams only)"
		}
		p("  %s %s%s\n", mark, c.Name, note)
	}
	p("\nimports (Heimdall | Envoy | APISIX | Kong):\n")
	w1, w2 := 0, 0
	for _, im := range r.Imports {
		w1 = max(w1, len(im.Module)+1+len(im.Name))
		w2 = max(w2, len(im.Heimdall))
	}
	for _, im := range r.Imports {
		line := fmt.Sprintf("  %-*s  %-*s", w1, im.Module+"."+im.Name, w2, im.Heimdall)
		if im.Envoy != "" {
			line += fmt.Sprintf("  envoy=%s apisix=%s kong=%s", im.Envoy, im.APISIX, im.Kong)
		}
		if im.Note != "" {
			line += "  (" + im.Note + ")"
		}
		p("%s\n", strings.TrimRight(line, " "))
	}
	p("\nexports:\n")
	for _, e := range r.Exports {
		if e.Signature != "" {
			p("  %s %s %s\n", e.Kind, e.Name, e.Signature)
		} else {
			p("  %s %s\n", e.Kind, e.Name)
		}
	}
	if len(r.Custom) > 0 {
		p("\ncustom sections:\n")
		for _, c := range r.Custom {
			p("  %s (%d bytes)\n", c.Name, c.Size)
		}
	}
	return nil
}
