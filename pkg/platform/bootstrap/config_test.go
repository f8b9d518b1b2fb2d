package bootstrap_test

import (
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/bootstrap"
)

// env is a getenv over a map; the base has the one required variable.
func env(overrides map[string]string) func(string) string {
	m := map[string]string{"ETCD_ENDPOINTS": "https://etcd-0:2379, https://etcd-1:2379"}
	for k, v := range overrides {
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

func TestLoadConfig_Defaults(t *testing.T) {
	t.Parallel()
	c, err := bootstrap.LoadConfig("inventory", env(nil))
	if err != nil {
		t.Fatalf("LoadConfig with only ETCD_ENDPOINTS: %v", err)
	}
	checks := []struct {
		field     string
		got, want any
	}{
		{"Service", c.Service, "inventory"},
		{"Version", c.Version, "dev"},
		{"ListenAddr", c.ListenAddr, ":8080"},
		{"AdvertiseAddr", c.AdvertiseAddr, ""},
		{"AdminAddr", c.AdminAddr, ":9090"},
		{"TLSDir", c.TLSDir, "/certs"},
		{"DevPlaintext", c.DevPlaintext, false},
		{"LogLevel", c.LogLevel, slog.LevelInfo},
		{"LeaseTTL", c.LeaseTTL, 10 * time.Second},
		{"DefaultTimeout", c.DefaultTimeout, 5 * time.Second},
		{"PropagationDelay", c.PropagationDelay, time.Second},
		{"ShutdownTimeout", c.ShutdownTimeout, 15 * time.Second},
		{"OverloadLimit", c.OverloadLimit, true},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.field, ch.got, ch.want)
		}
	}
	if want := []string{"https://etcd-0:2379", "https://etcd-1:2379"}; !slices.Equal(c.EtcdEndpoints, want) {
		t.Errorf("EtcdEndpoints = %q, want %q", c.EtcdEndpoints, want)
	}
}

func TestLoadConfig_Set(t *testing.T) {
	t.Parallel()
	c, err := bootstrap.LoadConfig("order", env(map[string]string{
		"SERVICE_VERSION":      "1.2.3",
		"LISTEN_ADDR":          "0.0.0.0:7000",
		"ADVERTISE_ADDR":       "order-1:7000",
		"ADMIN_ADDR":           "127.0.0.1:7001",
		"TLS_DIR":              "/run/certs",
		"DEV_PLAINTEXT":        "true",
		"LOG_LEVEL":            "debug",
		"REGISTRY_TTL":         "3s",
		"GRPC_DEFAULT_TIMEOUT": "4s",
		"PROPAGATION_DELAY":    "0s",
		"SHUTDOWN_TIMEOUT":     "30s",
		"OVERLOAD_LIMIT":       "off",
	}))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	want := bootstrap.Config{
		Service: "order", Version: "1.2.3",
		ListenAddr: "0.0.0.0:7000", AdvertiseAddr: "order-1:7000", AdminAddr: "127.0.0.1:7001",
		EtcdEndpoints: c.EtcdEndpoints, LeaseTTL: 3 * time.Second,
		TLSDir: "/run/certs", DevPlaintext: true, LogLevel: slog.LevelDebug,
		DefaultTimeout:   4 * time.Second,
		PropagationDelay: 0, ShutdownTimeout: 30 * time.Second, OverloadLimit: false,
	}
	if !equalConfig(c, want) {
		t.Errorf("LoadConfig =\n  %+v\nwant\n  %+v", c, want)
	}
}

func equalConfig(a, b bootstrap.Config) bool {
	eps := slices.Equal(a.EtcdEndpoints, b.EtcdEndpoints)
	a.EtcdEndpoints, b.EtcdEndpoints = nil, nil
	return eps && a.Service == b.Service && a.Version == b.Version &&
		a.ListenAddr == b.ListenAddr && a.AdvertiseAddr == b.AdvertiseAddr && a.AdminAddr == b.AdminAddr &&
		a.LeaseTTL == b.LeaseTTL && a.TLSDir == b.TLSDir && a.DevPlaintext == b.DevPlaintext &&
		a.LogLevel == b.LogLevel && a.DefaultTimeout == b.DefaultTimeout &&
		a.PropagationDelay == b.PropagationDelay && a.ShutdownTimeout == b.ShutdownTimeout &&
		a.OverloadLimit == b.OverloadLimit
}

func TestLoadConfig_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		wantVar string // the variable the error must name
	}{
		{"etcd endpoints missing", map[string]string{"ETCD_ENDPOINTS": ""}, "ETCD_ENDPOINTS"},
		{"etcd endpoint without scheme", map[string]string{"ETCD_ENDPOINTS": "etcd:2379"}, "ETCD_ENDPOINTS"},
		{"log level", map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{"registry TTL below 1s", map[string]string{"REGISTRY_TTL": "500ms"}, "REGISTRY_TTL"},
		{"registry TTL not a duration", map[string]string{"REGISTRY_TTL": "ten"}, "REGISTRY_TTL"},
		{"dev plaintext", map[string]string{"DEV_PLAINTEXT": "maybe"}, "DEV_PLAINTEXT"},
		{"listen address", map[string]string{"LISTEN_ADDR": "nonsense"}, "LISTEN_ADDR"},
		{"admin address", map[string]string{"ADMIN_ADDR": "nonsense"}, "ADMIN_ADDR"},
		{"advertise address", map[string]string{"ADVERTISE_ADDR": "nonsense"}, "ADVERTISE_ADDR"},
		// Replaced by per-method budgets: refused, not silently ignored.
		{"hop timeout set", map[string]string{"GRPC_HOP_TIMEOUT": "2s"}, "GRPC_HOP_TIMEOUT"},
		{"default timeout negative", map[string]string{"GRPC_DEFAULT_TIMEOUT": "-1s"}, "GRPC_DEFAULT_TIMEOUT"},
		{"shutdown timeout zero", map[string]string{"SHUTDOWN_TIMEOUT": "0s"}, "SHUTDOWN_TIMEOUT"},
		{"TLS reload interval zero", map[string]string{"TLS_RELOAD_INTERVAL": "0s"}, "TLS_RELOAD_INTERVAL"},
		{"overload limit", map[string]string{"OVERLOAD_LIMIT": "maybe"}, "OVERLOAD_LIMIT"},
		{"propagation delay negative", map[string]string{"PROPAGATION_DELAY": "-1s"}, "PROPAGATION_DELAY"},
		{"propagation delay not a duration", map[string]string{"PROPAGATION_DELAY": "1"}, "PROPAGATION_DELAY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := bootstrap.LoadConfig("inventory", env(tt.env))
			if err == nil {
				t.Fatalf("LoadConfig with %v: nil error, want one naming %s", tt.env, tt.wantVar)
			}
			if !strings.Contains(err.Error(), tt.wantVar) {
				t.Errorf("LoadConfig with %v: %q does not name %s", tt.env, err, tt.wantVar)
			}
			if !strings.Contains(err.Error(), "inventory") {
				t.Errorf("LoadConfig with %v: %q does not name the service", tt.env, err)
			}
		})
	}

	t.Run("every bad variable is reported at once", func(t *testing.T) {
		t.Parallel()
		_, err := bootstrap.LoadConfig("inventory", env(map[string]string{
			"ETCD_ENDPOINTS": "", "LOG_LEVEL": "loud", "DEV_PLAINTEXT": "maybe", "GRPC_HOP_TIMEOUT": "fast",
		}))
		for _, v := range []string{"ETCD_ENDPOINTS", "LOG_LEVEL", "DEV_PLAINTEXT", "GRPC_HOP_TIMEOUT"} {
			if err == nil || !strings.Contains(err.Error(), v) {
				t.Errorf("LoadConfig with four bad variables: %v, want %s named", err, v)
			}
		}
	})
}

func TestAdvertiseAddr(t *testing.T) {
	t.Parallel()
	tcp := func(s string) net.Addr {
		t.Helper()
		a, err := net.ResolveTCPAddr("tcp", s)
		if err != nil {
			t.Fatalf("resolve %q: %v", s, err)
		}
		return a
	}

	t.Run("explicit wins", func(t *testing.T) {
		got, err := bootstrap.AdvertiseAddr("inventory-2:8080", tcp("10.1.2.3:9000"))
		if err != nil || got != "inventory-2:8080" {
			t.Errorf("AdvertiseAddr(explicit) = %q, %v, want inventory-2:8080", got, err)
		}
	})

	t.Run("concrete listen address is used as is", func(t *testing.T) {
		for _, listened := range []string{"10.1.2.3:9000", "127.0.0.1:9000", "[fd00::1]:9000"} {
			got, err := bootstrap.AdvertiseAddr("", tcp(listened))
			if err != nil || got != listened {
				t.Errorf("AdvertiseAddr(listening on %s) = %q, %v, want %s", listened, got, err, listened)
			}
		}
	})

	t.Run("listener that is not TCP", func(t *testing.T) {
		_, err := bootstrap.AdvertiseAddr("", &net.UnixAddr{Name: "/tmp/x.sock", Net: "unix"})
		if err == nil || !strings.Contains(err.Error(), "not TCP") {
			t.Errorf("AdvertiseAddr(unix socket) error = %v, want one saying it is not TCP", err)
		}
	})

	t.Run("unspecified address", func(t *testing.T) {
		// What the machine offers decides the answer: one of its
		// non-loopback IPv4 addresses, or an error asking for ADVERTISE_ADDR.
		candidates := map[string]bool{}
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			t.Fatalf("InterfaceAddrs: %v", err)
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
				candidates[ipn.IP.String()] = true
			}
		}
		for _, listened := range []string{"0.0.0.0:8080", "[::]:8080"} {
			got, err := bootstrap.AdvertiseAddr("", tcp(listened))
			if len(candidates) == 0 {
				if err == nil || !strings.Contains(err.Error(), "ADVERTISE_ADDR") {
					t.Errorf("AdvertiseAddr(%s) on a host without non-loopback IPv4 = %q, %v, want an error asking for ADVERTISE_ADDR", listened, got, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("AdvertiseAddr(%s) = %v, want one of %v with port 8080", listened, err, candidates)
			}
			host, port, err := net.SplitHostPort(got)
			if err != nil || !candidates[host] || port != strconv.Itoa(8080) {
				t.Errorf("AdvertiseAddr(%s) = %q, want one of %v with port 8080", listened, got, candidates)
			}
		}
	})
}

func TestLoadConfig_PeersAndBalancers(t *testing.T) {
	t.Parallel()
	t.Run("PEER_TARGETS replaces etcd", func(t *testing.T) {
		t.Parallel()
		c, err := bootstrap.LoadConfig("order", env(map[string]string{
			"ETCD_ENDPOINTS": "",
			"PEER_TARGETS":   "inventory=dns:///inventory:8080, payment=dns:///payment:8080",
		}))
		if err != nil {
			t.Fatalf("LoadConfig: %v", err)
		}
		if len(c.EtcdEndpoints) != 0 {
			t.Errorf("EtcdEndpoints = %q, want none", c.EtcdEndpoints)
		}
		if c.PeerTargets["inventory"] != "dns:///inventory:8080" || c.PeerTargets["payment"] != "dns:///payment:8080" {
			t.Errorf("PeerTargets = %v", c.PeerTargets)
		}
	})
	t.Run("neither etcd nor peer targets", func(t *testing.T) {
		t.Parallel()
		_, err := bootstrap.LoadConfig("order", env(map[string]string{"ETCD_ENDPOINTS": ""}))
		if err == nil || !strings.Contains(err.Error(), "ETCD_ENDPOINTS") {
			t.Fatalf("got %v, want an error naming ETCD_ENDPOINTS", err)
		}
	})
	t.Run("balancer per peer", func(t *testing.T) {
		t.Parallel()
		c, err := bootstrap.LoadConfig("order", env(map[string]string{"GRPC_BALANCER": "payment=least_request", "ZONE": "eu-1a"}))
		if err != nil {
			t.Fatalf("LoadConfig: %v", err)
		}
		if c.Balancers["payment"] != "least_request" || c.Balancers["inventory"] != "" || c.Zone != "eu-1a" {
			t.Errorf("Balancers = %v, Zone = %q", c.Balancers, c.Zone)
		}
	})
	for _, tc := range []struct{ env, value string }{
		{"GRPC_BALANCER", "payment=random"},
		{"GRPC_BALANCER", "payment"},
		{"PEER_TARGETS", "inventory"},
	} {
		t.Run(tc.env+"="+tc.value, func(t *testing.T) {
			t.Parallel()
			_, err := bootstrap.LoadConfig("order", env(map[string]string{tc.env: tc.value}))
			if err == nil || !strings.Contains(err.Error(), tc.env) {
				t.Fatalf("got %v, want an error naming %s", err, tc.env)
			}
		})
	}
}
