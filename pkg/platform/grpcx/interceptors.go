package grpcx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
	"github.com/shopmesh/shopmesh/pkg/platform/deadline"
	"github.com/shopmesh/shopmesh/pkg/platform/overload"
	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf"
)

// serverMetrics are the server's own instruments. The call durations reuse
// one attribute set per method and code: otelgrpc's metrics, used before,
// built one for every call on both ends, 7 % of a hop's CPU.
type serverMetrics struct {
	noDeadline metric.Int64Counter
	duration   metric.Float64Histogram

	mu       sync.RWMutex
	attrSets map[string]*[codes.Unauthenticated + 1]metric.MeasurementOption // by method, then code
}

func newServerMetrics() *serverMetrics {
	meter := otel.Meter("github.com/shopmesh/shopmesh/pkg/platform/grpcx")
	// An instrument that cannot be created is not worth failing a server
	// over; the no-op instrument keeps the code path the same.
	c, _ := meter.Int64Counter("rpc.server.calls_without_deadline",
		metric.WithDescription("Calls that arrived without a deadline and got the server's default"))
	d, _ := meter.Float64Histogram("rpc.server.call.duration", metric.WithUnit("s"),
		metric.WithDescription("How long each call took on the server, by method and status code"),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	return &serverMetrics{noDeadline: c, duration: d, attrSets: map[string]*[codes.Unauthenticated + 1]metric.MeasurementOption{}}
}

// observe records one call's duration under its method and code.
func (m *serverMetrics) observe(ctx context.Context, method string, code codes.Code, d time.Duration) {
	if code > codes.Unauthenticated {
		code = codes.Unknown
	}
	m.mu.RLock()
	byCode := m.attrSets[method]
	var opt metric.MeasurementOption
	if byCode != nil {
		opt = byCode[code]
	}
	m.mu.RUnlock()
	if opt == nil {
		m.mu.Lock()
		if byCode = m.attrSets[method]; byCode == nil {
			byCode = new([codes.Unauthenticated + 1]metric.MeasurementOption)
			m.attrSets[method] = byCode
		}
		if opt = byCode[code]; opt == nil {
			opt = metric.WithAttributeSet(attribute.NewSet(semconv.RPCMethod(spanName(method)), semconv.RPCResponseStatusCode(code.String())))
			byCode[code] = opt
		}
		m.mu.Unlock()
	}
	m.duration.Record(ctx, d.Seconds(), opt)
}

// slowCall is how long a call may take before its line is logged at info
// even though it succeeded.
const slowCall = 250 * time.Millisecond

func recoveryUnary(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				logger.ErrorContext(ctx, "panic in gRPC handler", "method", info.FullMethod, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return handler(ctx, req)
	}
}

// recoveryStream turns a stream handler's panic into INTERNAL.
func recoveryStream(logger *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if p := recover(); p != nil {
				logger.ErrorContext(ss.Context(), "panic in gRPC stream handler", "method", info.FullMethod, "panic", fmt.Sprint(p))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return handler(srv, ss)
	}
}

// loggingUnary writes one line per call and records its duration. A call
// that succeeded in less than slowCall is logged at debug: at info, one JSON
// line per call was the largest single cost a hop added (docs/benchmarks.md).
// Refusals at capacity are logged at debug too. Failures and slow calls are
// logged at info or above. The context carries
// the span that traceServerUnary started, so the log handler stamps its
// trace id.
func loggingUnary(logger *slog.Logger, m *serverMetrics) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		took := time.Since(start)
		code := status.Code(err)
		m.observe(ctx, info.FullMethod, code, took)
		level := slog.LevelInfo
		switch {
		case code == codes.Internal || code == codes.Unknown:
			level = slog.LevelError
		case code == codes.OK && took < slowCall:
			level = slog.LevelDebug
		case code == codes.Unavailable && apperr.ReasonOf(FromStatus(err)) == overload.Reason:
			// Refused before any work, counted by shopmesh.overload.rejected:
			// in an overload the refusals outnumber the calls served.
			level = slog.LevelDebug
		}
		if !logger.Enabled(ctx, level) {
			return resp, err
		}
		attrs := []any{"method", info.FullMethod, "code", code.String(), "duration_ms", took.Milliseconds()}
		if caller, ok := callerService(ctx); ok {
			attrs = append(attrs, "caller", caller)
		}
		if err != nil {
			attrs = append(attrs, "err", err)
		}
		logger.Log(ctx, level, "grpc call", attrs...)
		return resp, err
	}
}

// errorsUnary turns domain errors into gRPC statuses through apperr's one
// table, after classify (if set) has named transient failures. The cause of
// an internal error is logged here, with the trace id, and never sent to
// the caller.
func errorsUnary(logger *slog.Logger, classify func(error) error) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err == nil {
			return resp, nil
		}
		if classify != nil {
			err = classify(err)
		}
		err = dependencyTimeout(ctx, err)
		st := ToStatus(err)
		switch st.Code() {
		case codes.Internal:
			logger.ErrorContext(ctx, "internal error", "method", info.FullMethod, "cause", err.Error())
		case codes.Unavailable, codes.DeadlineExceeded:
			if errors.Is(err, overload.ErrOverloaded) {
				// This server's own refusal: no dependency failed, and the
				// call's line says it was refused. Under overload one line
				// per refusal is what the machine can spare.
				break
			}
			// The caller learns only the code and message; why a dependency
			// failed stays here, under the trace id.
			logger.WarnContext(ctx, "dependency failed", "method", info.FullMethod, "cause", err.Error())
		}
		return resp, st.Err()
	}
}

// dependencyTimeout turns a deadline that passed inside the call, while the
// call's own had time left, into UNAVAILABLE: a database or peer did not
// answer within its hop's budget, which is a transient failure of that
// dependency (retry), not the caller's deadline running out (DESIGN.md,
// Overload: transient dependency failures are UNAVAILABLE end to end).
func dependencyTimeout(ctx context.Context, err error) error {
	var classified *apperr.Error
	if ctx.Err() != nil || errors.Is(err, deadline.ErrExhausted) || errors.As(err, &classified) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded {
		return apperr.New(apperr.Unavailable, "a dependency did not answer within its budget; retry").WithCause(err)
	}
	return err
}

// deadlineUnary bounds every call by its method's cap: a call that arrives
// without a deadline gets its cap (or def for a method without one) and is
// counted, since every shopmesh caller should send one; a call that asks for
// more than its cap gets the cap. A call whose budget is nearly spent is
// refused at once instead of starting work nobody will wait for.
func deadlineUnary(budgets map[string]time.Duration, def, minBudget time.Duration, m *serverMetrics) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		limit, known := budgets[info.FullMethod]
		dl, ok := ctx.Deadline()
		switch {
		case !ok:
			m.noDeadline.Add(ctx, 1)
			if !known {
				limit = def
			}
		case time.Until(dl) < minBudget:
			return nil, apperr.New(apperr.Timeout, "%s: %v of budget left, below the %v minimum", info.FullMethod, time.Until(dl).Round(time.Millisecond), minBudget).
				WithCause(deadline.ErrExhausted)
		case !known || time.Until(dl) <= limit:
			return handler(ctx, req)
		}
		ctx, cancel := context.WithTimeout(ctx, limit)
		defer cancel()
		return handler(ctx, req)
	}
}

// continuingHeader carries overload.Continuing across a hop: the call is a
// step of work admitted earlier (an order's saga), which the callee queues
// rather than refuses.
const continuingHeader = "shopmesh-continuing"

// limitUnary admits each call through l's limit for its method (nil: no
// limit). The permit covers the call's own work: it goes back while the
// call waits for a peer (budgetUnary yields it) and when the call ends.
func limitUnary(l *overload.Limiter) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if l == nil || strings.HasPrefix(info.FullMethod, healthPrefix) {
			return handler(ctx, req)
		}
		// One key, read in place: FromIncomingContext would copy all the
		// call's metadata (seven allocations a call).
		if len(metadata.ValueFromIncomingContext(ctx, continuingHeader)) > 0 {
			ctx = overload.Continuing(ctx)
		}
		ctx, permit, err := l.Admit(ctx, info.FullMethod)
		if errors.Is(err, overload.ErrOverloaded) {
			return nil, apperr.New(apperr.Unavailable, "%s is at capacity; retry in %v", info.FullMethod, overload.RetryAfter).
				WithReason(overload.Reason).WithCause(err)
		}
		if err != nil {
			return nil, err
		}
		defer permit.Done()
		return handler(ctx, req)
	}
}

// callerService returns the service name proven by the peer's client
// certificate.
func callerService(ctx context.Context) (string, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return "", false
	}
	name, err := tlsconf.PeerService(info.State)
	if err != nil {
		return "", false
	}
	return name, true
}

// allowedFor returns the callers allowed on method by the longest matching
// rule. A key ending in "/" covers a whole service; any other key is a full
// method name and covers that method only, so a rule for "/pkg.Svc/Get"
// cannot leak onto "/pkg.Svc/GetSecret".
func allowedFor(rules map[string][]string, method string) ([]string, bool) {
	best, found := "", false
	for k := range rules {
		matches := k == method || (strings.HasSuffix(k, "/") && strings.HasPrefix(method, k))
		if matches && len(k) >= len(best) {
			best, found = k, true
		}
	}
	return rules[best], found
}

// healthPrefix is the health service, open to every caller so that any
// client can health-check an instance it balances over.
const healthPrefix = "/grpc.health.v1.Health/"

func authorize(ctx context.Context, rules map[string][]string, method string, tlsOn bool) error {
	if !tlsOn || len(rules) == 0 || strings.HasPrefix(method, healthPrefix) {
		// Without TLS (dev flag) there is no identity to check; a server
		// with no rules at all authenticates callers but does not restrict them.
		return nil
	}
	caller, ok := callerService(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "no verified client certificate")
	}
	allowed, found := allowedFor(rules, method)
	if !found {
		// Deny by default: a method added without a rule is closed until
		// someone decides who may call it.
		return status.Errorf(codes.PermissionDenied, "no caller is allowed on %s", method)
	}
	for _, a := range allowed {
		if a == caller || a == AnyCaller {
			return nil
		}
	}
	return status.Errorf(codes.PermissionDenied, "service %q may not call %s", caller, method)
}

func authzUnary(rules map[string][]string, tlsOn bool) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := authorize(ctx, rules, info.FullMethod, tlsOn); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// authzStream applies the caller rules to a stream.
func authzStream(rules map[string][]string, tlsOn bool) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := authorize(ss.Context(), rules, info.FullMethod, tlsOn); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}

// DefaultBudget caps calls of a method that has no row in the budgets
// given to Conns or NewServer.
const DefaultBudget = time.Second

// budgetOf returns method's cap.
func budgetOf(budgets map[string]time.Duration, method string) time.Duration {
	if d, ok := budgets[method]; ok {
		return d
	}
	return DefaultBudget
}

// notSent is the error of a call the client did not send because too
// little of the caller's budget was left: DEADLINE_EXCEEDED to gRPC, and
// deadline.ErrExhausted to errors.Is, so a server relaying it does not take
// it for a slow dependency.
type notSent struct{ st *status.Status }

func (e notSent) Error() string              { return e.st.Err().Error() }
func (e notSent) GRPCStatus() *status.Status { return e.st }
func (e notSent) Unwrap() error              { return deadline.ErrExhausted }

// budgetUnary gives each outgoing call its share of the caller's budget
// (seed rule 4): at most its method's cap, and no more than the caller has
// left once it keeps what it needs for its own later steps. A call that
// would get too little is not sent.
func budgetUnary(budgets map[string]time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		hop, cancel, err := deadline.Hop(ctx, budgetOf(budgets, method))
		if err != nil {
			return notSent{status.Newf(codes.DeadlineExceeded, "%s not sent: %v", method, err)}
		}
		defer cancel()
		if overload.IsContinuing(ctx) {
			hop = metadata.AppendToOutgoingContext(hop, continuingHeader, "1")
		}
		// Unless the caller's server counts this peer's work as its own,
		// it does not hold its concurrency permit while it waits.
		defer overload.Yield(ctx, method)()
		return invoker(hop, method, req, reply, cc, opts...)
	}
}
