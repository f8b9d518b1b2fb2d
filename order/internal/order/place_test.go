package order_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/shopmesh/shopmesh/order/internal/memstore"
	"github.com/shopmesh/shopmesh/order/internal/order"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

func TestService_Place_ReportsReplays(t *testing.T) {
	t.Parallel()
	svc := newService(t, newPeers(t))
	first, replayed, err := svc.Place(t.Context(), request("k-1"))
	if err != nil || replayed {
		t.Fatalf("first Place: replayed=%v, err %v; want a new order", replayed, err)
	}
	again, replayed, err := svc.Place(t.Context(), request("k-1"))
	if err != nil || !replayed || again.ID != first.ID {
		t.Fatalf("repeat: order %q replayed=%v err %v; want order %q replayed", again.ID, replayed, err, first.ID)
	}
	if _, replayed, _ := svc.Place(t.Context(), request("k-2")); replayed {
		t.Error("a new key reported as a replay")
	}
}

// An order keeps the trace of the request that placed it, so an operator
// can go from it to its spans; a repeat does not overwrite it.
func TestService_Place_KeepsTheTraceID(t *testing.T) {
	t.Parallel()
	svc := newService(t, newPeers(t))
	ctxIn := func(id string) context.Context {
		tid, err := trace.TraceIDFromHex(id)
		if err != nil {
			t.Fatal(err)
		}
		sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled})
		return trace.ContextWithSpanContext(t.Context(), sc)
	}
	const first, second = "4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c"
	placed, _, err := svc.Place(ctxIn(first), request("k-1"))
	if err != nil {
		t.Fatal(err)
	}
	again, _, err := svc.Place(ctxIn(second), request("k-1"))
	if err != nil {
		t.Fatal(err)
	}
	stored, err := svc.GetOrder(t.Context(), placed.ID)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]string{"placed": placed.TraceID, "repeat": again.TraceID, "stored": stored.TraceID} {
		if got != first {
			t.Errorf("%s order's trace id %q, want the placing request's %q", name, got, first)
		}
	}
	untraced, _, err := svc.Place(t.Context(), request("k-2"))
	if err != nil || untraced.TraceID != "" {
		t.Errorf("order placed without a trace: trace id %q, err %v; want none", untraced.TraceID, err)
	}
}

// lateStore records an order but reports its Create as out of time: the
// commit went through and its answer came too late.
type lateStore struct{ order.Store }

func (s lateStore) Create(ctx context.Context, o order.Order) (order.Order, bool, error) {
	if _, _, err := s.Store.Create(ctx, o); err != nil {
		return order.Order{}, false, err
	}
	return order.Order{}, false, context.DeadlineExceeded
}

// A create whose budget ran out may have been recorded: the answer is
// "unknown, repeat" (Timeout, HTTP 504), never "nothing was done" (503).
func TestService_Place_CreateOutOfTime(t *testing.T) {
	t.Parallel()
	p := newPeers(t)
	store := memstore.New()
	svc := newServiceOn(t, lateStore{store}, p)
	_, _, err := svc.Place(t.Context(), request("k-1"))
	if got := apperr.CodeOf(err); got != apperr.Timeout {
		t.Fatalf("got %v (code %q), want Timeout: the order may exist", err, got)
	}
	// It did: a repeat with the key finds it, and nothing made a second one.
	again, _, err := newServiceOn(t, store, p).Place(t.Context(), request("k-1"))
	if err != nil || again.ID == "" {
		t.Fatalf("repeat: %v, want the recorded order", err)
	}
	if orders, _, _ := svc.ListOrders(t.Context(), "c-1", 10, ""); len(orders) != 1 {
		t.Errorf("%d orders, want 1", len(orders))
	}
}
