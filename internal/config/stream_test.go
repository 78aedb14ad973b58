package config

import (
	"net/netip"
	"testing"
	"time"
)

func TestParseStream(t *testing.T) {
	m, err := ParseMain("conf/config.yaml", []byte(`
apisix:
  node_listen: 9080
  stream_proxy:
    tcp:
      - 9100
      - "127.0.0.1:9101"
      - addr: "[::1]:9102"
        tls: false
      - addr: 9103
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Listen{{Port: 9100}, {IP: "127.0.0.1", Port: 9101}, {IP: "::1", Port: 9102}, {Port: 9103}}
	if got := m.APISIX.StreamProxy.TCP; len(got) != len(want) {
		t.Fatalf("tcp = %+v, want %+v", got, want)
	} else {
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("tcp[%d] = %+v, want %+v", i, got[i], want[i])
			}
		}
	}
	r, err := ParseRoutes("conf/apisix.yaml", []byte(`
upstreams:
  - id: redis
    nodes:
      "127.0.0.1:6379": 1
    timeout: {connect: 2}
stream_routes:
  - id: 1
    server_addr: 127.0.0.1
    server_port: 9101
    remote_addr: 127.0.0.0/8
    upstream_id: redis
  - id: two
    remote_addr: "::1"
    upstream:
      nodes:
        - {host: 127.0.0.1, port: 6380, weight: 2}
#END
`), m)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.StreamRoutes) != 2 {
		t.Fatalf("stream routes = %+v", r.StreamRoutes)
	}
	s1, s2 := r.StreamRoutes[0], r.StreamRoutes[1]
	if s1.ID != "1" || s1.ServerAddr != "127.0.0.1" || s1.ServerPort != 9101 || !s1.HasRemoteAddr || s1.RemoteAddr != netip.MustParsePrefix("127.0.0.0/8") {
		t.Errorf("s1 = %+v", s1)
	}
	if s1.Upstream != r.Upstreams[0] || s1.Upstream.Timeout.Connect != 2*time.Second {
		t.Errorf("s1 upstream = %+v, want the named upstream with connect 2s", s1.Upstream)
	}
	if s2.RemoteAddr != netip.MustParsePrefix("::1/128") || s2.Upstream == nil || s2.Upstream.Nodes[0] != (Node{Host: "127.0.0.1", Port: 6380, Weight: 2}) {
		t.Errorf("s2 = %+v", s2)
	}
}
