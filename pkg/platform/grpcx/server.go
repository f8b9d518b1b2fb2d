package grpcx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/shopmesh/shopmesh/pkg/platform/deadline"
	"github.com/shopmesh/shopmesh/pkg/platform/overload"
	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf"
)

// Keep-alive settings shared by servers and clients. The client pings no
// more often than the server's enforcement policy admits, so the server
// never closes a healthy connection with ENHANCE_YOUR_CALM.
const (
	clientPingInterval = 10 * time.Second // client: ping an idle connection this often
	pingTimeout        = 3 * time.Second  // both: a ping unanswered this long kills the connection
	serverMinPingGap   = 5 * time.Second  // server: reject pings closer together than this
)

// ServerOption configures NewServer.
type ServerOption func(*serverConfig)

type serverConfig struct {
	logger          *slog.Logger
	defaultDeadline time.Duration
	minBudget       time.Duration
	budgets         map[string]time.Duration
	classify        func(error) error
	limiter         *overload.Limiter
	allowed         map[string][]string
}

// WithServerLogger sets the logger for call logs (default slog.Default()).
func WithServerLogger(l *slog.Logger) ServerOption { return func(c *serverConfig) { c.logger = l } }

// WithDefaultDeadline sets the deadline given to calls of a method without a
// budget (see WithServerBudgets) that arrive without one (default 5s).
func WithDefaultDeadline(d time.Duration) ServerOption {
	return func(c *serverConfig) { c.defaultDeadline = d }
}

// WithServerBudgets sets each method's cap, keyed by full method name
// (pkg/api.Budgets for shopmesh's API): a call that arrives without a
// deadline gets its method's cap, and one that asks for more gets no more.
func WithServerBudgets(budgets map[string]time.Duration) ServerOption {
	return func(c *serverConfig) { c.budgets = budgets }
}

// WithErrorClassifier sets a function every handler error passes through
// before it becomes a status, e.g. platform/postgres.Classify, which turns
// a lost database connection into apperr Unavailable instead of Internal.
func WithErrorClassifier(classify func(error) error) ServerOption {
	return func(c *serverConfig) { c.classify = classify }
}

// WithLimiter puts an adaptive concurrency limit (one per method) in front
// of the handlers: a call beyond it is refused at once with UNAVAILABLE,
// reason OVERLOADED, before any work is done. grpc.health.v1 is never
// limited.
func WithLimiter(l *overload.Limiter) ServerOption { return func(c *serverConfig) { c.limiter = l } }

// WithMinBudget sets the least time a call must have left to be worked on
// (default deadline.MinBudget); below it the server answers
// DEADLINE_EXCEEDED at once.
func WithMinBudget(d time.Duration) ServerOption { return func(c *serverConfig) { c.minBudget = d } }

// AnyCaller in a rule admits every caller with a valid shopmesh certificate.
const AnyCaller = "*"

// WithAllowedCallers restricts methods to caller services proven by their
// client certificate. Keys are full method names ("/pkg.Service/Method") or
// service prefixes ("/pkg.Service/"); the longest match wins. Once any rule
// is given, a method with no matching rule is denied (deny by default);
// grpc.health.v1 stays open to every caller.
func WithAllowedCallers(rules map[string][]string) ServerOption {
	return func(c *serverConfig) { c.allowed = rules }
}

// Server is a gRPC server with its health service.
type Server struct {
	*grpc.Server
	// Health reports per-service status through grpc.health.v1; clients use
	// it to keep an unhealthy instance out of rotation.
	Health *health.Server
	logger *slog.Logger
	// rules are the caller rules of WithAllowedCallers, checked against
	// every service registered; tlsOn says the callers have identities.
	rules map[string][]string
	tlsOn bool
}

// NewServer returns a server that requires mutual TLS with id. A nil id
// means plaintext, allowed only in development; it logs a warning.
func NewServer(id *tlsconf.Identity, opts ...ServerOption) *Server {
	cfg := serverConfig{logger: slog.Default(), defaultDeadline: 5 * time.Second, minBudget: deadline.MinBudget}
	for _, o := range opts {
		o(&cfg)
	}
	var creds credentials.TransportCredentials
	if id != nil {
		creds = credentials.NewTLS(id.ServerConfig())
	} else {
		cfg.logger.Warn("gRPC server without TLS: development only (plaintext dev flag is set)")
		creds = insecure.NewCredentials()
	}
	m := newServerMetrics()
	sopts := []grpc.ServerOption{
		grpc.Creds(creds),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             serverMinPingGap,
			PermitWithoutStream: true, // clients ping idle connections too
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:    2 * clientPingInterval, // the server checks a silent client too
			Timeout: pingTimeout,
		}),
		// Order matters: the trace outermost, so the span covers the call
		// and every line logged for it carries its trace id; recovery next
		// so a panic anywhere becomes INTERNAL; deadline before authz so
		// every call has a budget;
		// the limit after authz, so refused callers take no capacity;
		// logging sees the final status.
		grpc.ChainUnaryInterceptor(
			traceServerUnary(),
			recoveryUnary(cfg.logger),
			loggingUnary(cfg.logger, m),
			errorsUnary(cfg.logger, cfg.classify),
			deadlineUnary(cfg.budgets, cfg.defaultDeadline, cfg.minBudget, m),
			authzUnary(cfg.allowed, id != nil),
			limitUnary(cfg.limiter),
		),
		grpc.ChainStreamInterceptor(traceServerStream(), recoveryStream(cfg.logger), authzStream(cfg.allowed, id != nil)),
	}
	s := &Server{Server: grpc.NewServer(sopts...), Health: health.NewServer(), logger: cfg.logger, rules: cfg.allowed, tlsOn: id != nil}
	healthpb.RegisterHealthServer(s.Server, s.Health)
	return s
}

// RegisterService registers a service as grpc.Server does (the generated
// Register<Service>Server functions call it), after checking the caller
// rules, failing closed: over mutual TLS a server must have rules, or
// every caller with a certificate of the mesh would be allowed everything,
// and they must name every method of the service, or a method added to
// the API would stay closed (deny by default) until someone noticed. Either
// mistake panics here, at start-up, the way grpc-go treats a service
// registered twice. Without TLS (the plaintext dev flag) callers have no
// identity and nothing is checked.
func (s *Server) RegisterService(desc *grpc.ServiceDesc, impl any) {
	if s.tlsOn && len(s.rules) == 0 {
		panic(fmt.Sprintf("grpcx: %s registered on a server without caller rules, which would let every caller "+
			"of the mesh call everything: give them to WithAllowedCallers", desc.ServiceName))
	}
	if missing := unruled(s.rules, desc); len(missing) > 0 {
		panic(fmt.Sprintf("grpcx: %s registered without caller rules for %s: give them to WithAllowedCallers",
			desc.ServiceName, strings.Join(missing, ", ")))
	}
	s.Server.RegisterService(desc, impl)
}

// unruled returns the full names of desc's methods that no rule covers;
// none when there are no rules at all.
func unruled(rules map[string][]string, desc *grpc.ServiceDesc) []string {
	if len(rules) == 0 {
		return nil
	}
	var missing []string
	check := func(name string) {
		full := "/" + desc.ServiceName + "/" + name
		if _, ok := allowedFor(rules, full); !ok {
			missing = append(missing, full)
		}
	}
	for _, m := range desc.Methods {
		check(m.MethodName)
	}
	for _, st := range desc.Streams {
		check(st.StreamName)
	}
	return missing
}

// SetServing marks every service on this server SERVING or NOT_SERVING.
// The empty service name stands for the whole server.
func (s *Server) SetServing(serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.Health.SetServingStatus("", st)
	for name := range s.GetServiceInfo() {
		s.Health.SetServingStatus(name, st)
	}
}

// Serve serves on lis until Stop; a server stopped by Stop returns nil.
func (s *Server) Serve(lis net.Listener) error {
	if err := s.Server.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// Stop drains the server: it stops accepting, lets in-flight calls finish
// until ctx is done, then closes the rest.
func (s *Server) Stop(ctx context.Context) error {
	s.Health.Shutdown()
	done := make(chan struct{})
	go func() {
		s.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.logger.WarnContext(ctx, "graceful stop timed out, closing remaining calls")
		s.Server.Stop()
		<-done
		return ctx.Err()
	}
}
