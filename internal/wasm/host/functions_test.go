package host

import (
	"slices"
	"testing"

	"github.com/heimdallgw/heimdall/internal/wasm/abi"
)

// Functions reports as not implemented exactly the table entries whose
// body answers Unimplemented, and they do.
func TestFunctionsImplemented(t *testing.T) {
	var unimpl []string
	for _, f := range Functions() {
		if !f.Implemented {
			unimpl = append(unimpl, f.Name)
		}
	}
	want := []string{"proxy_grpc_call", "proxy_grpc_stream", "proxy_grpc_send", "proxy_grpc_cancel", "proxy_grpc_close"}
	if !slices.Equal(unimpl, want) {
		t.Fatalf("not implemented: %q, want %q", unimpl, want)
	}
	for _, d := range table() {
		if slices.Contains(want, d.name) {
			if st := d.fn(nil, make([]uint64, 16)); st != abi.StatusUnimplemented {
				t.Errorf("%s answers %v", d.name, st)
			}
		}
	}
	if len(Functions()) != len(FunctionNames()) {
		t.Fatal("Functions and FunctionNames disagree")
	}
}
