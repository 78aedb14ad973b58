package host

import (
	"context"
	"testing"

	"github.com/heimdallgw/heimdall/internal/filter"
)

func TestSmoke(t *testing.T) {
	p, logs := loadConformance(t, PluginConfig{})
	f, err := p.NewFactory(context.Background(), "r1", []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	x := exchange("GET", "/a", "x-test", "addreq,log,addresp")
	r := run(t, []filter.Factory{f}, x, nil, nil, upstream{status: 200, body: [][]byte{[]byte("hello")}})
	if r.err != nil || r.local != nil {
		t.Fatalf("err %v local %+v", r.err, r.local)
	}
	if got := hdr(&x.Req.Header, "x-added"); got != "1" {
		t.Errorf("x-added = %q", got)
	}
	if got := hdr(&x.Resp.Header, "x-resp-added"); got != "1" {
		t.Errorf("x-resp-added = %q", got)
	}
	t.Log(logs.String())
}
