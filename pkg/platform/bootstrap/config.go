package bootstrap

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/discovery"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/settings"
)

// Config is the part of a service's configuration every service shares.
// Each field names its environment variable; README.md lists them all.
type Config struct {
	Service string // set by the service, not the environment
	Version string // SERVICE_VERSION, default "dev"

	ListenAddr    string // LISTEN_ADDR: the main server (gRPC, or HTTP for the gateway), default ":8080"
	AdvertiseAddr string // ADVERTISE_ADDR: host:port put into etcd; default: this host's first non-loopback IPv4 and the listen port
	AdminAddr     string // ADMIN_ADDR: /healthz, /readyz, /metrics, default ":9090"

	// DatabaseURL (DATABASE_URL) is the service's own database, for a
	// service that has one (platform/postgres.Service requires it).
	DatabaseURL string

	EtcdEndpoints []string      // ETCD_ENDPOINTS: comma-separated; required unless PEER_TARGETS is set
	LeaseTTL      time.Duration // REGISTRY_TTL, default 10s
	Zone          string        // ZONE: failure domain recorded with the registration
	// PeerTargets (PEER_TARGETS, "inventory=dns:///inventory:8080,...") is the
	// fallback when there is no etcd: gRPC targets per peer, typically DNS.
	// Used only when ETCD_ENDPOINTS is unset; logged loudly.
	PeerTargets map[string]string
	// Balancers (GRPC_BALANCER, "payment=least_request,...") picks the
	// balancer per peer; unnamed peers use round_robin.
	Balancers map[string]string

	TLSDir string // TLS_DIR: ca.pem, <service>.pem, <service>-key.pem; default "/certs"
	// TLSReload (TLS_RELOAD_INTERVAL, default 30s) is how often TLS_DIR is
	// re-read: a rotated certificate or CA bundle applies to the next
	// connection without a restart (tlsconf.Identity.Watch).
	TLSReload    time.Duration
	DevPlaintext bool // DEV_PLAINTEXT=true: no TLS anywhere (development only; logs a warning)
	LogLevel     slog.Level
	// DefaultTimeout (GRPC_DEFAULT_TIMEOUT, default 5s) is the deadline
	// given to incoming calls that carry none, for methods without a budget
	// in the API's budgets (API.Budgets, which set every other hop's budget).
	DefaultTimeout time.Duration

	// OverloadLimit (OVERLOAD_LIMIT, default true) puts the adaptive
	// concurrency limit in front of the server; "off" (false) removes it,
	// to measure what it does.
	OverloadLimit bool

	PropagationDelay time.Duration // PROPAGATION_DELAY: wait after deregistering, default 1s
	ShutdownTimeout  time.Duration // SHUTDOWN_TIMEOUT: bound on the whole stop, default 15s
}

// LoadConfig reads the shared settings of service from getenv and validates them.
func LoadConfig(service string, getenv func(string) string) (Config, error) {
	r := settings.New(getenv)
	c := readConfig(service, r) // validates too
	if err := r.Err(); err != nil {
		return Config{}, fmt.Errorf("config of %s: %w", service, err)
	}
	return c, nil
}

// readConfig reads the shared settings with s and reports to s what is
// wrong with them, the checks of Validate included.
func readConfig(service string, s *settings.Reader) Config {
	c := Config{
		Service:          service,
		Version:          s.String("SERVICE_VERSION", "dev"),
		ListenAddr:       s.String("LISTEN_ADDR", ":8080"),
		AdvertiseAddr:    s.String("ADVERTISE_ADDR", ""),
		AdminAddr:        s.String("ADMIN_ADDR", ":9090"),
		DatabaseURL:      s.String("DATABASE_URL", ""),
		TLSDir:           s.String("TLS_DIR", "/certs"),
		TLSReload:        s.Duration("TLS_RELOAD_INTERVAL", 30*time.Second),
		Zone:             s.String("ZONE", ""),
		PeerTargets:      s.Pairs("PEER_TARGETS"),
		Balancers:        s.Pairs("GRPC_BALANCER"),
		DevPlaintext:     s.Bool("DEV_PLAINTEXT", false),
		OverloadLimit:    s.OneOf("OVERLOAD_LIMIT", "adaptive", "adaptive", "off") == "adaptive",
		LeaseTTL:         s.Duration("REGISTRY_TTL", 10*time.Second),
		DefaultTimeout:   s.Duration("GRPC_DEFAULT_TIMEOUT", 5*time.Second),
		PropagationDelay: s.Duration("PROPAGATION_DELAY", time.Second),
		ShutdownTimeout:  s.Duration("SHUTDOWN_TIMEOUT", 15*time.Second),
	}
	// One timeout for every hop cannot nest (seed rule 4).
	s.Retired("GRPC_HOP_TIMEOUT", "each method has its own budget (pkg/api/budgets.go, docs/deadlines.md)")
	if eps := s.String("ETCD_ENDPOINTS", ""); eps != "" || len(c.PeerTargets) == 0 {
		var err error
		c.EtcdEndpoints, err = discovery.ParseEndpoints(eps)
		s.Check(err == nil, "ETCD_ENDPOINTS (or PEER_TARGETS without etcd): %v", err)
	}
	level := s.String("LOG_LEVEL", "info")
	s.Check(c.LogLevel.UnmarshalText([]byte(level)) == nil, "LOG_LEVEL=%q: want debug, info, warn or error", level)
	if s.Err() == nil { // values that did not parse would fail again here
		err := c.validate()
		s.Check(err == nil, "%v", err)
	}
	return c
}

// Validate checks the settings that do not depend on the environment's format.
func (c Config) Validate() error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("config of %s: %w", c.Service, err)
	}
	return nil
}

func (c Config) validate() error {
	var errs []error
	for name, addr := range map[string]string{"LISTEN_ADDR": c.ListenAddr, "ADMIN_ADDR": c.AdminAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", name, addr, err))
		}
	}
	if c.AdvertiseAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdvertiseAddr); err != nil {
			errs = append(errs, fmt.Errorf("ADVERTISE_ADDR %q: %w", c.AdvertiseAddr, err))
		}
	}
	for peer, b := range c.Balancers {
		if b != grpcx.RoundRobin && b != grpcx.LeastRequest {
			errs = append(errs, fmt.Errorf("GRPC_BALANCER %s=%s: want %s or %s", peer, b, grpcx.RoundRobin, grpcx.LeastRequest))
		}
	}
	if c.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("REGISTRY_TTL %v: must be at least 1s", c.LeaseTTL))
	}
	for _, d := range []struct {
		env string
		v   time.Duration
	}{
		{"GRPC_DEFAULT_TIMEOUT", c.DefaultTimeout},
		{"SHUTDOWN_TIMEOUT", c.ShutdownTimeout},
		{"TLS_RELOAD_INTERVAL", c.TLSReload},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s %v: must be positive", d.env, d.v))
		}
	}
	if c.PropagationDelay < 0 { // 0 is allowed: do not wait
		errs = append(errs, fmt.Errorf("PROPAGATION_DELAY %v: must not be negative", c.PropagationDelay))
	}
	return errors.Join(errs...)
}
