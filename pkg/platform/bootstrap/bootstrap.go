package bootstrap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shopmesh/shopmesh/pkg/platform/discovery"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"
	"github.com/shopmesh/shopmesh/pkg/platform/overload"
	"github.com/shopmesh/shopmesh/pkg/platform/telemetry"
	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf"
)

// Process is a started service's shared infrastructure.
type Process struct {
	Config    Config
	Logger    *slog.Logger
	Telemetry *telemetry.Telemetry
	// Identity is this service's mTLS identity, re-read from TLS_DIR every
	// TLS_RELOAD_INTERVAL; nil under DEV_PLAINTEXT.
	Identity *tlsconf.Identity
	// stopReload ends the identity's watch; nil without one.
	stopReload func()
	Etcd       *clientv3.Client
	// Conns holds the one connection per peer service.
	Conns *grpcx.Conns
	// serverOptions are added to every server NewGRPCServer makes (e.g.
	// platform/postgres.Service's error classifier).
	serverOptions []grpcx.ServerOption
	// resolver resolves the peers through etcd; nil without etcd.
	resolver *discovery.Builder
	api      API

	Listener      net.Listener
	AdminListener net.Listener
}

// API is what the platform must know of the API a service serves and
// calls. The service passes it in (shopmesh's services pass pkg/api's
// tables): the platform knows no service or method by name.
type API struct {
	// Budgets is each method's cap, keyed by full method name
	// (grpcx.WithBudgets, grpcx.WithServerBudgets).
	Budgets map[string]time.Duration
	// Idempotent names, per peer service, the methods or services safe to
	// repeat when the callee was UNAVAILABLE (grpcx.Policy.Retryable).
	Idempotent map[string][]string
}

// Start sets up telemetry, TLS, etcd and the peer connections to the peers
// of api, and opens the listeners. On error everything already opened is
// closed again.
func Start(ctx context.Context, cfg Config, api API, logOut io.Writer, getenv func(string) string) (_ *Process, err error) {
	p := &Process{Config: cfg, api: api}
	defer func() {
		if err != nil {
			p.Abort(ctx)
		}
	}()

	p.Telemetry, err = telemetry.Setup(ctx, telemetry.Config{
		Service: cfg.Service, Version: cfg.Version, Getenv: getenv, LogWriter: logOut, LogLevel: cfg.LogLevel,
	})
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	p.Logger = p.Telemetry.Logger
	if cfg.DevPlaintext {
		p.Logger.WarnContext(ctx, "DEV_PLAINTEXT is set: gRPC and etcd run without TLS; never use this outside development")
	} else {
		if p.Identity, err = tlsconf.Load(cfg.TLSDir, cfg.Service); err != nil {
			return nil, fmt.Errorf("tls identity: %w", err)
		}
		p.stopReload = p.Identity.Watch(cfg.TLSReload, p.Logger)
	}

	connOpts := []grpcx.ConnsOption{grpcx.WithBudgets(api.Budgets), grpcx.WithConnsLogger(p.Logger)}
	for peer, methods := range api.Idempotent {
		connOpts = append(connOpts, grpcx.WithPolicy(peer, grpcx.Policy{Balancer: cfg.Balancers[peer], Retryable: methods}))
	}
	if len(cfg.EtcdEndpoints) > 0 {
		if p.Etcd, err = discovery.NewClient(cfg.EtcdEndpoints, p.etcdTLS(), p.Logger); err != nil {
			return nil, err
		}
		if p.resolver, err = discovery.NewBuilder(p.Etcd, p.Logger); err != nil {
			return nil, err
		}
		connOpts = append(connOpts, grpcx.WithResolver(p.resolver), grpcx.WithTarget(discovery.Target))
	} else {
		// Seed rule 2: DNS only as a fallback, and never quietly.
		p.Logger.WarnContext(ctx, "ETCD_ENDPOINTS is not set: NOT registering in etcd and resolving peers from PEER_TARGETS (DNS); instances will not be watched",
			"peer_targets", cfg.PeerTargets)
		connOpts = append(connOpts, grpcx.WithTarget(func(service string) string {
			if t, ok := cfg.PeerTargets[service]; ok {
				return t
			}
			return "missing:///" + service // refused by Conns.Get with the scheme named
		}))
	}
	p.Conns = grpcx.NewConns(p.Identity, connOpts...)

	if p.Listener, err = listen(ctx, cfg.ListenAddr); err != nil {
		return nil, err
	}
	if p.AdminListener, err = listen(ctx, cfg.AdminAddr); err != nil {
		_ = p.Listener.Close()
		return nil, err
	}
	return p, nil
}

func (p *Process) etcdTLS() *tls.Config {
	if p.Identity == nil {
		return nil
	}
	// Empty server name: gRPC fills in each endpoint's host, so every etcd
	// member is checked against its own DNS name.
	return p.Identity.HostClientConfig("")
}

func listen(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return l, nil
}

// NewGRPCServer returns the service's gRPC server with the shared
// interceptors, the API's budgets, the given caller rules (see
// grpcx.WithAllowedCallers) and what AddServerOptions added; opts add to
// them, e.g. the adaptive limit.
func (p *Process) NewGRPCServer(allowed map[string][]string, opts ...grpcx.ServerOption) *grpcx.Server {
	shared := []grpcx.ServerOption{
		grpcx.WithServerLogger(p.Logger),
		grpcx.WithDefaultDeadline(p.Config.DefaultTimeout),
		grpcx.WithServerBudgets(p.api.Budgets),
		grpcx.WithAllowedCallers(allowed),
	}
	shared = append(shared, p.serverOptions...)
	return grpcx.NewServer(p.Identity, append(shared, opts...)...)
}

// AddServerOptions adds opts to every gRPC server NewGRPCServer makes
// from now on: for a part of the platform that wraps a service's wiring,
// such as platform/postgres.Service, which classifies its database's
// errors.
func (p *Process) AddServerOptions(opts ...grpcx.ServerOption) {
	p.serverOptions = append(p.serverOptions, opts...)
}

// Throttle returns a throttle on the peers' overload refusals
// (overload.Throttle), or nil under OVERLOAD_LIMIT=off.
func (p *Process) Throttle() *overload.Throttle {
	if !p.Config.OverloadLimit {
		return nil
	}
	return overload.NewThrottle()
}

// Limiter returns the adaptive concurrency limit for this process's server
// (DESIGN.md, Overload), or nil under OVERLOAD_LIMIT=off. holds says which
// peer calls count as the server's own work (overload.Options.Holds; nil:
// none).
func (p *Process) Limiter(holds func(method string) bool) *overload.Limiter {
	if !p.Config.OverloadLimit {
		p.Logger.Warn("OVERLOAD_LIMIT=off: no adaptive concurrency limit; excess load will queue into timeouts")
		return nil
	}
	return overload.New(overload.Options{Name: p.Config.Service, Holds: holds, Logger: p.Logger})
}

// Registrar returns the etcd registration of this process's main listener,
// or nil when there is no etcd (the PEER_TARGETS fallback).
func (p *Process) Registrar() (lifecycle.Registrar, error) {
	if p.Etcd == nil {
		return nil, nil
	}
	addr, err := AdvertiseAddr(p.Config.AdvertiseAddr, p.Listener.Addr())
	if err != nil {
		return nil, err
	}
	r, err := discovery.NewRegistrar(p.Etcd, p.Config.Service,
		discovery.Instance{Addr: addr, Version: p.Config.Version, Zone: p.Config.Zone, Weight: 1},
		discovery.WithTTL(p.Config.LeaseTTL), discovery.WithLogger(p.Logger))
	if err != nil {
		return nil, err // not r: a nil *Registrar in the interface would not be nil
	}
	return r, nil
}

// PeersReady reports whether this process can route to every peer: etcd
// lists at least one instance of each, or, while etcd does not answer
// within a second, the last set the process routes to holds one. An etcd
// outage then costs no readiness (the cached routes keep serving, DESIGN.md
// discovery), while a peer with no instance at all does. It also takes
// every peer's channel out of gRPC's idle mode, so that its routes are
// known before etcd may go away. Without etcd (PEER_TARGETS) there is
// nothing to ask, and it reports ready.
func (p *Process) PeersReady(ctx context.Context, peers ...string) error {
	if p.Etcd == nil {
		return nil
	}
	for _, peer := range peers {
		if cc, err := p.Conns.Get(peer); err == nil {
			cc.Connect()
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	for _, peer := range peers {
		n, err := discovery.CountInstances(ctx, p.Etcd, peer)
		switch {
		case err != nil:
			if cached, ok := p.resolver.Known(peer); !ok || cached == 0 {
				return fmt.Errorf("etcd does not answer (%w) and no instance of %s is known", err, peer)
			}
		case n == 0:
			return fmt.Errorf("no instance of %s registered", peer)
		}
	}
	return nil
}

// App returns the lifecycle.App for server. The service's extra closers run
// first, then the peer connections and etcd, and telemetry last so the rest
// of the shutdown is still logged and traced.
func (p *Process) App(server lifecycle.Server, registrar lifecycle.Registrar, ready func(context.Context) error, extra ...lifecycle.Closer) lifecycle.App {
	// Clip: appending must not write into the caller's array behind extra.
	closers := append(slices.Clip(extra),
		lifecycle.Closer{Name: "peer connections and etcd", Close: func(context.Context) error { return p.closeClients() }},
		lifecycle.Closer{Name: "telemetry", Close: p.Telemetry.Shutdown})
	app := lifecycle.App{
		Name: p.Config.Service, Logger: p.Logger,
		Server: server, Registrar: registrar, Listener: p.Listener,
		AdminListener: p.AdminListener, Metrics: p.Telemetry.MetricsHandler, Ready: ready,
		PropagationDelay: p.Config.PropagationDelay, ShutdownTimeout: p.Config.ShutdownTimeout,
		Closers: closers,
	}
	return app
}

// closeClients closes the peer connections before the etcd client their
// resolvers watch, and stops re-reading the identity.
func (p *Process) closeClients() error {
	if p.stopReload != nil {
		p.stopReload()
	}
	var errs []error
	if p.Conns != nil {
		errs = append(errs, p.Conns.Close())
	}
	if p.Etcd != nil {
		errs = append(errs, p.Etcd.Close())
	}
	return errors.Join(errs...)
}

// Abort releases everything Start opened; Run calls it when wiring fails,
// before lifecycle.Run takes over.
func (p *Process) Abort(ctx context.Context) {
	_ = p.closeClients()
	for _, l := range []net.Listener{p.Listener, p.AdminListener} {
		if l != nil {
			_ = l.Close()
		}
	}
	if p.Telemetry != nil {
		_ = p.Telemetry.Shutdown(ctx)
	}
}

// AdvertiseAddr returns the address other instances should dial: explicit
// when given, otherwise this host's first non-loopback IPv4 address with the
// listener's port (the container's address on a compose network).
func AdvertiseAddr(explicit string, listened net.Addr) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	tcp, ok := listened.(*net.TCPAddr)
	if !ok {
		return "", fmt.Errorf("advertise address: listener address %v is not TCP", listened)
	}
	if !tcp.IP.IsUnspecified() {
		return tcp.String(), nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", fmt.Errorf("advertise address: %w", err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return net.JoinHostPort(ipn.IP.String(), fmt.Sprint(tcp.Port)), nil
		}
	}
	return "", errors.New("advertise address: no non-loopback IPv4 address; set ADVERTISE_ADDR")
}
