package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseDeployment(t *testing.T) {
	const conf = `deployment:
  role: traditional
  role_traditional:
    config_provider: etcd
  etcd:
    host: [http://127.0.0.1:2379, "https://10.0.0.2:2379"]
    prefix: /heimdall/
    timeout: 2.5
    startup_retry: 0
    user: root
    password: secret
    tls: {cert: tls/c.pem, key: /k.pem, verify: false, sni: etcd.local}
  admin:
    admin_listen: {ip: 0.0.0.0, port: 9181}
    admin_key:
      - {name: admin, key: 0123456789abcdef0123, role: admin}
      - {name: dash, key: fedcba9876543210fedc, role: viewer}
    allow_admin: [10.1.2.3, 192.168.0.0/16]
`
	m, err := ParseMain("conf/config.yaml", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	want := Deployment{
		Role:           RoleTraditional,
		ConfigProvider: ProviderEtcd,
		Etcd: Etcd{
			Host:     []string{"http://127.0.0.1:2379", "https://10.0.0.2:2379"},
			Prefix:   "/heimdall",
			Timeout:  2500 * time.Millisecond,
			User:     "root",
			Password: "secret",
			TLS:      EtcdTLS{Cert: "conf/tls/c.pem", Key: "/k.pem", SNI: "etcd.local"},
		},
		Admin: Admin{
			Listen: Listen{IP: "0.0.0.0", Port: 9181},
			Keys: []AdminKey{
				{Name: "admin", Key: "0123456789abcdef0123", Role: AdminRoleAdmin},
				{Name: "dash", Key: "fedcba9876543210fedc", Role: AdminRoleViewer},
			},
			Allow: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/32"), netip.MustParsePrefix("192.168.0.0/16")},
		},
	}
	if !reflect.DeepEqual(m.Deployment, want) {
		t.Errorf("got  %+v\nwant %+v", m.Deployment, want)
	}
	if !m.Deployment.UsesEtcd() || !m.Deployment.HasAdmin() {
		t.Errorf("UsesEtcd/HasAdmin false")
	}

	// The data plane on etcd has no Admin API and needs no key.
	m, err = ParseMain("c.yaml", []byte("deployment:\n  role: data_plane\n  role_data_plane: {config_provider: etcd}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Deployment.UsesEtcd() || m.Deployment.HasAdmin() || m.Deployment.Etcd.Host[0] != DefaultEtcdHost || m.Deployment.Etcd.Timeout != 30*time.Second {
		t.Errorf("data plane = %+v", m.Deployment)
	}
}

func TestAdminKeyFromEnvironment(t *testing.T) {
	const conf = "deployment:\n  role: traditional\n  admin:\n    admin_key: [{name: a, key: \"${{HEIMDALL_TEST_ADMIN_KEY}}\", role: admin}]\n"
	t.Setenv("HEIMDALL_TEST_ADMIN_KEY", "from-the-environment-0123")
	m, err := ParseMain("c.yaml", []byte(conf))
	if err != nil || m.Deployment.Admin.Keys[0].Key != "from-the-environment-0123" {
		t.Fatalf("keys %+v, err %v", m, err)
	}
	t.Setenv("HEIMDALL_TEST_ADMIN_KEY", "")
	_, err = ParseMain("c.yaml", []byte(conf))
	if err == nil || !strings.Contains(err.Error(), "c.yaml:4:32: deployment.admin.admin_key[0].key: environment variable HEIMDALL_TEST_ADMIN_KEY is not set") {
		t.Errorf("err = %v", err)
	}
}
