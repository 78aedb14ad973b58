// Command heimdall is Heimdall's seed plugin: it logs every request and
// response header and, at the end of each direction, the body, so a gateway
// log shows what crossed a route.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o heimdall.wasm .
// Behaviour and configuration: README.md in this directory.
package main

import (
	"github.com/heimdallgw/heimdall/sdk/proxywasm"
)

func main() {}

func init() { proxywasm.SetVMContext(newVM()) }
