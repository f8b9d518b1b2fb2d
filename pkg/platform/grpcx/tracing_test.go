package grpcx_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"

	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
)

// TestTracing: the trace context crosses a hop whether or not the trace is
// sampled (so the callee's log lines carry the caller's trace id), and a
// sampled call leaves a client and a server span of one trace, named after
// the method. Not parallel: it sets otel's global provider and propagator,
// as telemetry.Setup does in a service.
func TestTracing(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())), sdktrace.WithSpanProcessor(rec))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() {
		otel.SetTracerProvider(prevTP)
		otel.SetTextMapPropagator(prevProp)
		_ = tp.Shutdown(context.Background())
	})

	p := newPKI(t)
	var mu sync.Mutex
	var seen []trace.SpanContext // what the server's handler saw
	fake := &fakeInventory{}
	fake.getProduct = func(ctx context.Context, req *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
		mu.Lock()
		seen = append(seen, trace.SpanContextFromContext(ctx))
		mu.Unlock()
		if req.GetId() == "missing" {
			return nil, apperr.New(apperr.NotFound, "no product %s", req.GetId())
		}
		return &inventoryv1.GetProductResponse{Product: &inventoryv1.Product{Id: req.GetId()}}, nil
	}
	_, addr := startServer(t, p.id(t, "inventory"), fake, grpcx.WithAllowedCallers(reserveOnlyOrder))
	client := inventoryClient(t, newConns(t, p.id(t, "order"), addr))
	lastSeen := func() trace.SpanContext {
		mu.Lock()
		defer mu.Unlock()
		return seen[len(seen)-1]
	}

	t.Run("an unsampled trace still crosses the hop", func(t *testing.T) {
		parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}})
		ctx := trace.ContextWithSpanContext(callCtx(t, 5*time.Second), parent)
		before := len(rec.Ended())
		if _, err := client.GetProduct(ctx, &inventoryv1.GetProductRequest{Id: "p1"}); err != nil {
			t.Fatal(err)
		}
		if got := lastSeen(); got.TraceID() != parent.TraceID() || got.IsSampled() {
			t.Errorf("server saw trace %v (sampled %v), want the caller's %v, not sampled", got.TraceID(), got.IsSampled(), parent.TraceID())
		}
		if n := len(rec.Ended()) - before; n != 0 {
			t.Errorf("%d spans recorded for an unsampled trace, want 0", n)
		}
	})

	t.Run("a sampled call leaves a client and a server span of one trace", func(t *testing.T) {
		ctx, root := tp.Tracer("test").Start(callCtx(t, 5*time.Second), "root")
		_, err := client.GetProduct(ctx, &inventoryv1.GetProductRequest{Id: "missing"})
		root.End()
		wantCode(t, "GetProduct of a missing product", err, codes.NotFound)
		if got := lastSeen(); got.TraceID() != root.SpanContext().TraceID() || !got.IsSampled() {
			t.Errorf("server saw trace %v (sampled %v), want %v, sampled", got.TraceID(), got.IsSampled(), root.SpanContext().TraceID())
		}
		spans := map[trace.SpanKind]sdktrace.ReadOnlySpan{}
		for _, s := range rec.Ended() {
			if s.SpanContext().TraceID() == root.SpanContext().TraceID() && s.Name() == "inventory.v1.InventoryService/GetProduct" {
				spans[s.SpanKind()] = s
			}
		}
		cs, ss := spans[trace.SpanKindClient], spans[trace.SpanKindServer]
		if cs == nil || ss == nil {
			t.Fatalf("spans of the trace: %v, want a client and a server span named inventory.v1.InventoryService/GetProduct", spans)
		}
		if ss.Parent().SpanID() != cs.SpanContext().SpanID() {
			t.Errorf("server span's parent %v, want the client span %v", ss.Parent().SpanID(), cs.SpanContext().SpanID())
		}
		// NotFound is the caller's business: an error for the client, not
		// for the server.
		if cs.Status().Code != otelcodes.Error || ss.Status().Code == otelcodes.Error {
			t.Errorf("status client %v, server %v; want client Error, server not", cs.Status(), ss.Status())
		}
	})
}
