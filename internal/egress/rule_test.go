package egress

import (
	"net/netip"
	"testing"
)

func TestPolicyCheck(t *testing.T) {
	pol, err := New(Config{Allow: []string{"10.0.0.0/8:6379", "api.example.com:443", "*.svc.local", "[::1]:8080", "169.254.169.254/32"}, Local: []netip.Addr{}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr  string
		names []string
		ok    bool
	}{
		{"10.1.2.3:6379", nil, true},
		{"10.1.2.3:6380", nil, false},
		{"11.0.0.1:6379", nil, false},
		{"93.184.216.34:443", []string{"api.example.com"}, true},
		{"93.184.216.34:80", []string{"api.example.com"}, false},
		{"93.184.216.34:443", []string{"evil.example.com"}, false},
		{"10.9.9.9:1234", []string{"redis.svc.local"}, true},
		{"127.0.0.1:1234", []string{"redis.svc.local"}, false},
		{"[::1]:8080", nil, true},
		{"[::1]:8081", nil, false},
		{"[::ffff:10.0.0.1]:6379", nil, true},
		{"169.254.169.254:80", nil, true},
		{"169.254.169.253:80", nil, false},
		{"0.0.0.0:80", nil, false},
	}
	for _, tt := range tests {
		ap := netip.MustParseAddrPort(tt.addr)
		if ok, reason := pol.Check(ap.Addr(), ap.Port(), tt.names); ok != tt.ok {
			t.Errorf("check(%s, %v) = %v (%s), want %v", tt.addr, tt.names, ok, reason, tt.ok)
		}
	}
	for _, bad := range []string{"", "[::1", "10.0.0.0/33", "host:0", "host:x"} {
		if _, err := parseRule(bad); err == nil {
			t.Errorf("parseRule(%q) succeeded", bad)
		}
	}
}
