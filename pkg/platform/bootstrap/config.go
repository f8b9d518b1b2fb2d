package bootstrap

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/discovery"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
)

// Config is the part of a service's configuration every service shares.
// Each field names its environment variable; README.md lists them all.
type Config struct {
	Service string // set by the service, not the environment
	Version string // SERVICE_VERSION, default "dev"

	ListenAddr    string // LISTEN_ADDR: the main server (gRPC, or HTTP for the gateway), default ":8080"
	AdvertiseAddr string // ADVERTISE_ADDR: host:port put into etcd; default: this host's first non-loopback IPv4 and the listen port
	AdminAddr     string // ADMIN_ADDR: /healthz, /readyz, /metrics, default ":9090"

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

	TLSDir       string // TLS_DIR: ca.pem, <service>.pem, <service>-key.pem; default "/certs"
	DevPlaintext bool   // DEV_PLAINTEXT=true: no TLS anywhere (development only; logs a warning)
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
	c := Config{
		Service:       service,
		Version:       orDefault(getenv("SERVICE_VERSION"), "dev"),
		ListenAddr:    orDefault(getenv("LISTEN_ADDR"), ":8080"),
		AdvertiseAddr: getenv("ADVERTISE_ADDR"),
		AdminAddr:     orDefault(getenv("ADMIN_ADDR"), ":9090"),
		TLSDir:        orDefault(getenv("TLS_DIR"), "/certs"),
		Zone:          getenv("ZONE"),
	}
	var errs []error
	var err error
	if getenv("GRPC_HOP_TIMEOUT") != "" {
		// One timeout for every hop cannot nest (seed rule 4); say so
		// rather than silently ignore a setting someone relies on.
		errs = append(errs, errors.New("GRPC_HOP_TIMEOUT is no longer read: each method has its own budget (pkg/api/budgets.go, docs/deadlines.md); unset it"))
	}
	if c.PeerTargets, err = parsePairs(getenv("PEER_TARGETS")); err != nil {
		errs = append(errs, fmt.Errorf("PEER_TARGETS: %w", err))
	}
	if c.Balancers, err = parsePairs(getenv("GRPC_BALANCER")); err != nil {
		errs = append(errs, fmt.Errorf("GRPC_BALANCER: %w", err))
	}
	if eps := getenv("ETCD_ENDPOINTS"); eps != "" || len(c.PeerTargets) == 0 {
		if c.EtcdEndpoints, err = discovery.ParseEndpoints(eps); err != nil {
			errs = append(errs, fmt.Errorf("ETCD_ENDPOINTS (or PEER_TARGETS without etcd): %w", err))
		}
	}
	if c.DevPlaintext, err = parseBool(getenv("DEV_PLAINTEXT")); err != nil {
		errs = append(errs, fmt.Errorf("DEV_PLAINTEXT: %w", err))
	}
	switch v := getenv("OVERLOAD_LIMIT"); v {
	case "", "adaptive":
		c.OverloadLimit = true
	case "off":
	default:
		errs = append(errs, fmt.Errorf("OVERLOAD_LIMIT %q: want adaptive or off", v))
	}
	if err := c.LogLevel.UnmarshalText([]byte(orDefault(getenv("LOG_LEVEL"), "info"))); err != nil {
		errs = append(errs, fmt.Errorf("LOG_LEVEL: %w", err))
	}
	durations := []struct {
		env string
		dst *time.Duration
		def time.Duration
	}{
		{"REGISTRY_TTL", &c.LeaseTTL, 10 * time.Second},
		{"GRPC_DEFAULT_TIMEOUT", &c.DefaultTimeout, 5 * time.Second},
		{"PROPAGATION_DELAY", &c.PropagationDelay, time.Second},
		{"SHUTDOWN_TIMEOUT", &c.ShutdownTimeout, 15 * time.Second},
	}
	for _, d := range durations {
		if *d.dst, err = ParseDuration(getenv(d.env), d.def); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.env, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("config of %s: %w", service, err)
	}
	return c, c.Validate()
}

// Validate checks the settings that do not depend on the environment's format.
func (c Config) Validate() error {
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
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s %v: must be positive", d.env, d.v))
		}
	}
	if c.PropagationDelay < 0 { // 0 is allowed: do not wait
		errs = append(errs, fmt.Errorf("PROPAGATION_DELAY %v: must not be negative", c.PropagationDelay))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("config of %s: %w", c.Service, err)
	}
	return nil
}

// ParseDuration parses s as a time.Duration, or returns def when s is empty.
func ParseDuration(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	return time.ParseDuration(s)
}

// ParseInt parses s as an int, or returns def when s is empty.
func ParseInt(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	return strconv.Atoi(s)
}

// parsePairs reads "a=x,b=y" into a map; empty input gives an empty map.
func parsePairs(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%q: want name=value", part)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

func parseBool(s string) (bool, error) {
	if s == "" {
		return false, nil
	}
	return strconv.ParseBool(s)
}

func orDefault(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return v
}
