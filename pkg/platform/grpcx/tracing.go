package grpcx

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel"
	otelcodes "go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Tracing across a hop is done here, by one interceptor on each end, not by
// otelgrpc's stats handlers: those run for every event of a call (begin,
// headers, each message, trailers, end) and build attributes whether or not
// the span is sampled, which measured as two thirds of what a hop through
// the platform cost over bare mTLS gRPC (docs/benchmarks.md). What a trace
// needs stays: the trace context crosses every hop, sampled or not, so every
// log line carries the trace id; a span per call on each end, named and
// attributed as the OpenTelemetry RPC conventions say, when the trace is
// sampled. In a trace that is not, no span is made at all: the trace context
// passes through each hop as it came.

// tracerName names the instrumentation in every span it records.
const tracerName = "github.com/shopmesh/shopmesh/pkg/platform/grpcx"

// traceClientUnary starts a client span for each call and sends the trace
// context with it. A call made in a trace that is not sampled makes no span:
// it sends that trace on as it is, which is all its callee needs to log the
// trace id (shopmesh samples parent-based, so no span of that trace is ever
// recorded).
func traceClientUnary() grpc.UnaryClientInterceptor {
	tracer := otel.Tracer(tracerName)
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if unsampled(ctx) {
			return invoker(injectTrace(ctx), method, req, reply, cc, opts...)
		}
		ctx, span := tracer.Start(ctx, spanName(method), trace.WithSpanKind(trace.SpanKindClient))
		err := invoker(injectTrace(ctx), method, req, reply, cc, opts...)
		endSpan(span, method, err, true)
		return err
	}
}

// traceClientStream sends the trace context with each stream. Streams are
// the platform's own (health watches); they get no span.
func traceClientStream() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		return streamer(injectTrace(ctx), desc, cc, method, opts...)
	}
}

// traceServerUnary continues the caller's trace, or starts one, with a
// server span around the whole call. It is the outermost interceptor, so
// the span sees the status the caller gets and every other interceptor
// (the call's log line included) runs inside it. In a trace that is not
// sampled the call runs in the caller's trace without a span of its own:
// its log lines carry the trace id, and its own calls carry the trace on.
func traceServerUnary() grpc.UnaryServerInterceptor {
	tracer := otel.Tracer(tracerName)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx = extractTrace(ctx)
		if unsampled(ctx) {
			return handler(ctx, req)
		}
		ctx, span := tracer.Start(ctx, spanName(info.FullMethod), trace.WithSpanKind(trace.SpanKindServer))
		resp, err := handler(ctx, req)
		endSpan(span, info.FullMethod, err, false)
		return resp, err
	}
}

// traceServerStream does the same for a stream, for as long as it lasts.
func traceServerStream() grpc.StreamServerInterceptor {
	tracer := otel.Tracer(tracerName)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx := extractTrace(ss.Context())
		if unsampled(ctx) {
			return handler(srv, &tracedStream{ServerStream: ss, ctx: ctx})
		}
		ctx, span := tracer.Start(ctx, spanName(info.FullMethod), trace.WithSpanKind(trace.SpanKindServer))
		err := handler(srv, &tracedStream{ServerStream: ss, ctx: ctx})
		endSpan(span, info.FullMethod, err, false)
		return err
	}
}

// tracedStream is a server stream whose context carries its span.
//
//nolint:containedctx // grpc.ServerStream hands its call's context out through Context()
type tracedStream struct {
	grpc.ServerStream
	ctx context.Context //shopmesh:allow ctxparam grpc.ServerStream hands its call's context out through Context()
}

func (s *tracedStream) Context() context.Context { return s.ctx }

// unsampled reports whether ctx is in a trace that is not recorded. A
// context in no trace is not: its call starts one, which the sampler may
// record.
func unsampled(ctx context.Context) bool {
	sc := trace.SpanContextFromContext(ctx)
	return sc.IsValid() && !sc.IsSampled()
}

// spanName is the conventional name of a call's span: the full method
// without its leading slash ("inventory.v1.InventoryService/Reserve").
func spanName(fullMethod string) string { return strings.TrimPrefix(fullMethod, "/") }

// endSpan sets what the conventions ask of an RPC span, only when it is
// recorded, and ends it. A client marks every non-OK status an error; a
// server only those that are its own fault or a dependency's, not the
// caller's (a refused argument, a missing product).
func endSpan(span trace.Span, fullMethod string, err error, client bool) {
	if !span.IsRecording() {
		span.End()
		return
	}
	st := status.Convert(err)
	span.SetAttributes(semconv.RPCSystemNameGRPC, semconv.RPCMethod(spanName(fullMethod)),
		semconv.RPCResponseStatusCode(st.Code().String()))
	if err != nil && (client || serverFault(st.Code())) {
		span.SetStatus(otelcodes.Error, st.Message())
	}
	span.End()
}

// serverFault reports whether a server span with this code is an error.
func serverFault(c codes.Code) bool {
	switch c {
	case codes.Unknown, codes.DeadlineExceeded, codes.Unimplemented, codes.Internal, codes.Unavailable, codes.DataLoss:
		return true
	}
	return false
}

// injectTrace adds the trace context of ctx (traceparent, and baggage if
// any) to the call's outgoing metadata.
func injectTrace(ctx context.Context) context.Context {
	var kv outgoingPairs
	otel.GetTextMapPropagator().Inject(ctx, &kv)
	if len(kv) == 0 {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, kv...)
}

// extractTrace returns ctx carrying the caller's trace context, if it sent
// one.
func extractTrace(ctx context.Context) context.Context {
	return otel.GetTextMapPropagator().Extract(ctx, incomingCarrier{ctx})
}

// outgoingPairs collects what a propagator injects as key, value pairs for
// metadata.AppendToOutgoingContext, which copies nothing already there.
type outgoingPairs []string

func (p *outgoingPairs) Get(string) string { return "" }
func (p *outgoingPairs) Set(key, value string) {
	*p = append(*p, key, value)
}

func (p *outgoingPairs) Keys() []string {
	keys := make([]string, 0, len(*p)/2)
	for i := 0; i < len(*p); i += 2 {
		keys = append(keys, (*p)[i])
	}
	return keys
}

// incomingCarrier reads a propagator's keys from the call's incoming
// metadata one by one: metadata.FromIncomingContext would copy all of it on
// every call.
//
//nolint:containedctx // a propagator's carrier lives only inside its call
type incomingCarrier struct{ ctx context.Context } //shopmesh:allow ctxparam a propagator's carrier lives only inside its call

func (c incomingCarrier) Get(key string) string {
	if v := metadata.ValueFromIncomingContext(c.ctx, key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c incomingCarrier) Set(string, string) {}

func (c incomingCarrier) Keys() []string {
	md, _ := metadata.FromIncomingContext(c.ctx)
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	return keys
}
