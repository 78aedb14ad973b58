package sockets

// FunctionNames lists the wasi_snapshot_preview1 functions Export registers
// (the socket ABI and the descriptor functions it shares with WASI), for
// tools that say whether a plugin links.
func FunctionNames() []string { return names() }

// ParamCounts returns the parameter counts Export accepts for function
// name (several for WasmEdge's V1/V2 signatures), nil when it does not
// register name.
func ParamCounts(name string) []int {
	if name == "poll_oneoff" {
		return []int{4}
	}
	for _, hf := range hostFuncs() {
		if hf.name == name {
			var out []int
			for _, v := range hf.variants {
				out = append(out, len(v.params))
			}
			return out
		}
	}
	return nil
}
