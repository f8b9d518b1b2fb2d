package grpcx

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	// Registers the client-side health checker used by healthCheckConfig.
	_ "google.golang.org/grpc/health"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/resolver"

	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf"
)

// ConnsOption configures Conns.
type ConnsOption func(*Conns)

// WithResolver makes targets resolve through b (the etcd resolver).
func WithResolver(b resolver.Builder) ConnsOption {
	return func(c *Conns) { c.resolvers = append(c.resolvers, b) }
}

// WithPolicy sets how calls to service are balanced and retried (default:
// round-robin, no retries).
func WithPolicy(service string, p Policy) ConnsOption {
	return func(c *Conns) { c.policies[service] = p }
}

// WithTarget overrides how a service name becomes a gRPC target (default
// "etcd:///<service>").
func WithTarget(f func(service string) string) ConnsOption { return func(c *Conns) { c.target = f } }

// WithBudgets sets each method's cap, keyed by full method name
// ("/pkg.Service/Method"; pkg/api.Budgets for shopmesh's API). Every call
// gets the smaller of its method's cap and what the caller has left minus
// what it keeps (platform/deadline); a method without a row gets
// DefaultBudget.
func WithBudgets(budgets map[string]time.Duration) ConnsOption {
	return func(c *Conns) { c.budgets = budgets }
}

// WithConnsLogger sets the logger (default slog.Default()).
func WithConnsLogger(l *slog.Logger) ConnsOption { return func(c *Conns) { c.logger = l } }

// WithDialOptions appends raw grpc.DialOptions (for tests and tuning).
func WithDialOptions(opts ...grpc.DialOption) ConnsOption {
	return func(c *Conns) { c.extra = append(c.extra, opts...) }
}

// Conns owns one *grpc.ClientConn per peer service for the life of the
// process. Get is safe for concurrent use; Close closes them all.
type Conns struct {
	id        *tlsconf.Identity
	resolvers []resolver.Builder
	target    func(string) string
	budgets   map[string]time.Duration
	logger    *slog.Logger
	extra     []grpc.DialOption
	policies  map[string]Policy

	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
	closed bool
}

// NewConns returns an empty set of connections that authenticate as id and
// verify each peer's identity. A nil id means plaintext (dev flag only).
func NewConns(id *tlsconf.Identity, opts ...ConnsOption) *Conns {
	c := &Conns{
		id: id, target: func(s string) string { return "etcd:///" + s },
		logger: slog.Default(),
		conns:  make(map[string]*grpc.ClientConn), policies: make(map[string]Policy),
	}
	for _, o := range opts {
		o(c)
	}
	if id == nil {
		c.logger.Warn("gRPC clients without TLS: development only (plaintext dev flag is set)")
	}
	return c
}

// Get returns the shared connection to service, creating it on first use.
// Creating does no I/O; the first RPC connects within its own deadline.
func (c *Conns) Get(service string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("grpcx: connections already closed")
	}
	if cc, ok := c.conns[service]; ok {
		return cc, nil
	}
	target := c.target(service)
	if err := c.checkScheme(target); err != nil {
		return nil, fmt.Errorf("grpc client for %s: %w", service, err)
	}
	opts, err := c.dialOptions(service)
	if err != nil {
		return nil, fmt.Errorf("grpc client for %s: %w", service, err)
	}
	cc, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("grpc client for %s: %w", service, err)
	}
	c.conns[service] = cc
	c.logger.Info("gRPC connection created", "peer", service, "target", cc.CanonicalTarget())
	return cc, nil
}

// checkScheme refuses a target whose scheme nothing resolves: grpc.NewClient
// would quietly treat "etcd:///x" as a DNS name and fail only at the first
// call.
func (c *Conns) checkScheme(target string) error {
	scheme, _, ok := strings.Cut(target, ":///")
	if !ok {
		return fmt.Errorf("target %q: want scheme:///name", target)
	}
	for _, b := range c.resolvers {
		if b.Scheme() == scheme {
			return nil
		}
	}
	if resolver.Get(scheme) != nil {
		return nil
	}
	return fmt.Errorf("target %q: no resolver for scheme %q", target, scheme)
}

func (c *Conns) dialOptions(service string) ([]grpc.DialOption, error) {
	sc, err := c.policies[service].serviceConfigJSON()
	if err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if c.id != nil {
		// The server must prove it is `service`; its address came from a
		// registry, so the certificate, not the address, is the identity.
		creds = credentials.NewTLS(c.id.ClientConfig(service))
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithResolvers(c.resolvers...),
		grpc.WithDefaultServiceConfig(sc),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                clientPingInterval, // ≥ the server's MinTime, so pings are admitted
			Timeout:             pingTimeout,
			PermitWithoutStream: true, // find a dead idle connection before a request does
		}),
		grpc.WithChainUnaryInterceptor(traceClientUnary(), budgetUnary(c.budgets)),
		grpc.WithChainStreamInterceptor(traceClientStream()),
	}
	return append(opts, c.extra...), nil
}

// Close closes every connection. Calls in flight fail with CANCELED; Get
// fails afterwards.
func (c *Conns) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for name, cc := range c.conns {
		if err := cc.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", name, err))
		}
	}
	c.conns = map[string]*grpc.ClientConn{}
	return errors.Join(errs...)
}
