package config

import (
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Deployment roles and configuration providers (`deployment.role`,
// `deployment.role_*.config_provider`).
const (
	// RoleTraditional is APISIX's default: the data plane and the Admin API
	// in one process, configuration in etcd.
	RoleTraditional = "traditional"
	// RoleDataPlane serves traffic only; its configuration comes from
	// apisix.yaml (ProviderYAML, standalone mode) or etcd (ProviderEtcd).
	RoleDataPlane = "data_plane"

	ProviderYAML = "yaml"
	ProviderEtcd = "etcd"
)

// Deployment defaults (those of APISIX, except the Admin API address, which
// is loopback-only unless configured).
const (
	DefaultEtcdHost         = "http://127.0.0.1:2379"
	DefaultEtcdPrefix       = "/apisix"
	DefaultEtcdTimeout      = 30 * time.Second
	DefaultEtcdStartupRetry = 2
	DefaultAdminIP          = "127.0.0.1"
	DefaultAdminPort        = 9180
	// PublishedAdminKey is the admin key shipped in APISIX's example
	// configuration; anyone can look it up, so Heimdall refuses it
	// (CVE-2020-13945).
	PublishedAdminKey = "edd1c9f034335f136f87ad84b625c8f1"
)

// Admin key roles.
const (
	AdminRoleAdmin  = "admin"  // read and write
	AdminRoleViewer = "viewer" // GET only
)

// Deployment is the `deployment:` section:
//
//	deployment:
//	  role: data_plane               # data_plane (default) | traditional
//	  role_data_plane:
//	    config_provider: yaml        # yaml (default, standalone apisix.yaml) | etcd
//	  role_traditional:
//	    config_provider: etcd        # the only provider of the traditional role
//	  etcd:                          # used by config_provider etcd
//	    host: ["http://127.0.0.1:2379"]  # one or more client URLs of one etcd cluster
//	    prefix: /apisix
//	    timeout: 30                  # seconds, per etcd request
//	    startup_retry: 2             # retries of the first load before giving up
//	    user: ""                     # etcd authentication (both or neither)
//	    password: ""
//	    tls:                         # for https:// hosts
//	      cert: client.pem           # client certificate and key (mutual TLS)
//	      key: client-key.pem
//	      verify: true               # verify the server certificate (CA: apisix.ssl.ssl_trusted_certificate)
//	      sni: etcd.example.com      # server name to verify; default the host's
//	  admin:                         # the Admin API, traditional role only
//	    admin_listen: {ip: 127.0.0.1, port: 9180}
//	    admin_key:                   # required; never APISIX's published default key
//	      - {name: admin, key: "${{HEIMDALL_ADMIN_KEY}}", role: admin}   # admin: read and write; ${{VAR}} reads the environment
//	      - {name: ci, key: "...", role: viewer}     # viewer: GET only
//	    allow_admin: [127.0.0.0/24]  # client (TCP peer) addresses allowed; default loopback only
type Deployment struct {
	Role           string // RoleDataPlane or RoleTraditional
	ConfigProvider string // ProviderYAML or ProviderEtcd
	Etcd           Etcd
	Admin          Admin
}

// Etcd is `deployment.etcd`.
type Etcd struct {
	// Host are the client URLs (http:// or https://).
	Host   []string
	Prefix string // without a trailing slash
	// Timeout bounds one etcd request (APISIX `timeout`, seconds).
	Timeout time.Duration
	// StartupRetry is how many more times the first load is tried, with
	// growing pauses, before start-up fails.
	StartupRetry int
	User         string
	Password     string
	TLS          EtcdTLS
}

// EtcdTLS is `deployment.etcd.tls`. The CA bundle that verifies the server
// is apisix.ssl.ssl_trusted_certificate, as in APISIX; without it the
// system roots are used.
type EtcdTLS struct {
	Cert   string // resolved path; empty for no client certificate
	Key    string // resolved path
	Verify bool   // default true
	SNI    string
}

// Admin is `deployment.admin`.
type Admin struct {
	Listen Listen
	Keys   []AdminKey
	// Allow lists the client networks allowed to reach the Admin API,
	// checked against the TCP peer address only (never X-Forwarded-For or
	// X-Real-IP, CVE-2022-24112).
	Allow []netip.Prefix
}

// AdminKey is one entry of `deployment.admin.admin_key`.
type AdminKey struct {
	Name string
	Key  string
	Role string // AdminRoleAdmin or AdminRoleViewer
}

// UsesEtcd reports whether the routes come from etcd.
func (d Deployment) UsesEtcd() bool { return d.ConfigProvider == ProviderEtcd }

// HasAdmin reports whether this process serves the Admin API.
func (d Deployment) HasAdmin() bool { return d.Role == RoleTraditional }

func defaultDeployment() Deployment {
	return Deployment{
		Role:           RoleDataPlane,
		ConfigProvider: ProviderYAML,
		Etcd: Etcd{
			Host:         []string{DefaultEtcdHost},
			Prefix:       DefaultEtcdPrefix,
			Timeout:      DefaultEtcdTimeout,
			StartupRetry: DefaultEtcdStartupRetry,
			TLS:          EtcdTLS{Verify: true},
		},
		Admin: Admin{
			Listen: Listen{IP: DefaultAdminIP, Port: DefaultAdminPort},
			Allow:  []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		},
	}
}

// envRef is APISIX's ${{NAME}} reference to an environment variable, accepted
// for admin keys so that config files need not hold the secret.
var envRef = regexp.MustCompile(`^\$\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$`)

// adminKeyHowTo ends the admin_key errors.
const adminKeyHowTo = `set one under deployment.admin.admin_key, for example admin_key: [{name: admin, key: <output of "openssl rand -hex 16">, role: admin}]`

func (d *decoder) decodeDeployment(n *yaml.Node, path string, dep *Deployment, dir string) {
	var (
		roleNode, keysNode *yaml.Node
		hasKeys            bool
	)
	provider := func(role string) func(v *yaml.Node, p string) {
		return func(v *yaml.Node, p string) {
			d.mapping(v, p, field{"config_provider", func(v *yaml.Node, p string) {
				s, ok := d.str(v, p)
				if !ok {
					return
				}
				allowed := []string{ProviderYAML, ProviderEtcd}
				if role == RoleTraditional {
					allowed = []string{ProviderEtcd}
				}
				if !contains(allowed, s) {
					d.errorf(resolve(v), p, "unknown config_provider %q; allowed: %s", s, strings.Join(allowed, ", "))
					return
				}
				if role == RoleTraditional {
					return // etcd is implied by the role
				}
				dep.ConfigProvider = s
			}})
		}
	}
	d.mapping(n, path,
		field{"role", func(v *yaml.Node, p string) {
			if s, ok := d.oneOf(v, p, "role", RoleDataPlane, RoleTraditional); ok {
				dep.Role, roleNode = s, resolve(v)
			}
		}},
		field{"role_data_plane", provider(RoleDataPlane)},
		field{"role_traditional", provider(RoleTraditional)},
		field{"etcd", func(v *yaml.Node, p string) { d.decodeEtcd(v, p, &dep.Etcd, dir) }},
		field{"admin", func(v *yaml.Node, p string) {
			keysNode = resolve(v)
			hasKeys = hasKey(v, "admin_key")
			d.decodeAdmin(v, p, &dep.Admin)
		}},
	)
	if dep.Role == RoleTraditional {
		dep.ConfigProvider = ProviderEtcd
		if len(dep.Admin.Keys) == 0 && !hasKeys {
			at := keysNode
			if at == nil {
				at = roleNode
			}
			d.errorf(at, join(join(path, "admin"), "admin_key"), "role traditional serves the Admin API, which needs a key; %s", adminKeyHowTo)
		}
	}
}

func (d *decoder) decodeEtcd(n *yaml.Node, path string, e *Etcd, dir string) {
	d.mapping(n, path,
		field{"host", func(v *yaml.Node, p string) {
			items, ok := d.sequence(v, p)
			if !ok {
				return
			}
			if len(items) == 0 {
				d.errorf(resolve(v), p, "needs at least one URL such as http://127.0.0.1:2379")
				return
			}
			var hosts []string
			for i, it := range items {
				s, ok := d.str(it, index(p, i))
				if !ok {
					continue
				}
				u, err := url.Parse(s)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
					d.errorf(resolve(it), index(p, i), "invalid etcd URL %q; allowed: http://host:port or https://host:port", s)
					continue
				}
				hosts = append(hosts, s)
			}
			if len(hosts) > 0 {
				e.Host = hosts
			}
		}},
		field{"prefix", func(v *yaml.Node, p string) {
			s, ok := d.str(v, p)
			if !ok {
				return
			}
			s = strings.TrimRight(s, "/")
			if !strings.HasPrefix(s, "/") {
				d.errorf(resolve(v), p, "prefix %q must start with / (such as /apisix) and not be / alone", s)
				return
			}
			e.Prefix = s
		}},
		field{"timeout", func(v *yaml.Node, p string) {
			if t, ok := d.seconds(v, p); ok {
				e.Timeout = t
			}
		}},
		field{"startup_retry", func(v *yaml.Node, p string) {
			if i, ok := d.nonNegInt(v, p); ok {
				e.StartupRetry = i
			}
		}},
		field{"user", func(v *yaml.Node, p string) { e.User, _ = d.str(v, p) }},
		field{"password", func(v *yaml.Node, p string) { e.Password, _ = d.str(v, p) }},
		field{"tls", func(v *yaml.Node, p string) {
			tn := resolve(v)
			d.mapping(v, p,
				field{"cert", func(v *yaml.Node, p string) {
					if s, ok := d.str(v, p); ok {
						e.TLS.Cert = resolvePath(dir, s)
					}
				}},
				field{"key", func(v *yaml.Node, p string) {
					if s, ok := d.str(v, p); ok {
						e.TLS.Key = resolvePath(dir, s)
					}
				}},
				field{"verify", func(v *yaml.Node, p string) {
					if b, ok := d.boolean(v, p); ok {
						e.TLS.Verify = b
					}
				}},
				field{"sni", func(v *yaml.Node, p string) { e.TLS.SNI, _ = d.str(v, p) }},
			)
			if (e.TLS.Cert == "") != (e.TLS.Key == "") {
				d.errorf(tn, p, "cert and key go together (a client certificate and its private key)")
			}
		}},
	)
	if hasKey(n, "user") != hasKey(n, "password") {
		d.errorf(resolve(n), path, "user and password go together")
	}
}

func (d *decoder) decodeAdmin(n *yaml.Node, path string, a *Admin) {
	d.mapping(n, path,
		field{"admin_listen", func(v *yaml.Node, p string) {
			l := Listen{IP: DefaultAdminIP, Port: DefaultAdminPort}
			d.mapping(v, p,
				field{"ip", func(v *yaml.Node, p string) {
					if s, ok := d.str(v, p); ok {
						s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
						if _, err := netip.ParseAddr(s); err != nil {
							d.errorf(resolve(v), p, "invalid IP address %q", s)
							return
						}
						l.IP = s
					}
				}},
				field{"port", func(v *yaml.Node, p string) {
					if port, ok := d.port(v, p); ok {
						l.Port = port
					}
				}},
			)
			a.Listen = l
		}},
		field{"admin_key", func(v *yaml.Node, p string) {
			items, _ := d.sequence(v, p)
			if len(items) == 0 {
				d.errorf(resolve(v), p, "no key; the Admin API never runs without one; %s", adminKeyHowTo)
			}
			names := map[string]bool{}
			for i, it := range items {
				ip := index(p, i)
				var k AdminKey
				d.mapping(it, ip,
					field{"name", func(v *yaml.Node, p string) {
						if s, ok := d.str(v, p); ok {
							if names[s] {
								d.errorf(resolve(v), p, "duplicate admin key name %q", s)
							}
							names[s], k.Name = true, s
						}
					}},
					field{"key", func(v *yaml.Node, p string) {
						s, ok := d.text(v, p)
						if m := envRef.FindStringSubmatch(s); ok && m != nil {
							if s = os.Getenv(m[1]); s == "" {
								d.errorf(resolve(v), p, "environment variable %s is not set (or empty); export it, e.g. export %s=$(openssl rand -hex 16)", m[1], m[1])
								return
							}
						}
						switch {
						case !ok:
						case s == PublishedAdminKey:
							d.errorf(resolve(v), p, "this is APISIX's published example key, known to everyone (CVE-2020-13945); %s", adminKeyHowTo)
						case len(s) < 16:
							d.errorf(resolve(v), p, "too short (%d characters); use at least 16 random characters; %s", len(s), adminKeyHowTo)
						default:
							k.Key = s
						}
					}},
					field{"role", func(v *yaml.Node, p string) {
						k.Role, _ = d.oneOf(v, p, "role", AdminRoleAdmin, AdminRoleViewer)
					}},
				)
				for _, f := range []string{"name", "key", "role"} {
					if !hasKey(it, f) {
						d.errorf(resolve(it), join(ip, f), "required")
					}
				}
				if k.Key != "" && k.Role != "" {
					a.Keys = append(a.Keys, k)
				}
			}
		}},
		field{"allow_admin", func(v *yaml.Node, p string) {
			items, _ := d.sequence(v, p)
			var out []netip.Prefix
			for i, it := range items {
				s, ok := d.str(it, index(p, i))
				if !ok {
					continue
				}
				pf, err := netip.ParsePrefix(s)
				if err != nil {
					addr, aerr := netip.ParseAddr(s)
					if aerr != nil {
						d.errorf(resolve(it), index(p, i), "invalid address or CIDR %q; allowed: 10.0.0.0/8, 127.0.0.1, ::1/128", s)
						continue
					}
					pf = netip.PrefixFrom(addr, addr.BitLen())
				}
				out = append(out, pf.Masked())
			}
			a.Allow = out
		}},
	)
}
