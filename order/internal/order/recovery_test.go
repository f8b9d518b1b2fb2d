package order_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/order/internal/memstore"
	"github.com/shopmesh/shopmesh/order/internal/order"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// stuckOrder places an order whose charge fails, leaving it PENDING, and
// returns a Service over the same store whose clock is an hour ahead, so
// the order is stale for it.
func stuckOrder(t *testing.T, p *peers) (*order.Service, string) {
	t.Helper()
	store := memstore.New()
	charge := p.pay.charge
	p.pay.charge = func(context.Context, string, order.Money, string) (order.ChargeResult, error) {
		return order.ChargeResult{}, apperr.New(apperr.Unavailable, "payment down")
	}
	first := newServiceOn(t, store, p)
	o, _, err := first.Place(within(t, 100*time.Millisecond), request("k-1"))
	if err != nil || o.Status != order.Pending {
		t.Fatalf("PlaceOrder with payment down: got %s, %v; want PENDING", o.Status, err)
	}
	// The process stops: its run gives the order up, PENDING.
	closeService(t, first)
	p.pay.charge = charge
	later := newServiceOn(t, store, p, order.WithClock(func() time.Time { return time.Now().Add(time.Hour) }))
	return later, o.ID
}

func TestRecovery(t *testing.T) {
	t.Parallel()

	t.Run("a pass finishes a stale order", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		svc, id := stuckOrder(t, p)
		if n, err := svc.RecoveryPass(t.Context()); n != 1 || err != nil {
			t.Errorf("RecoveryPass: got %d, %v; want 1, nil", n, err)
		}
		wantStatus(t, stored(t, svc, id), order.Confirmed)
	})

	t.Run("a pass stopped at a step leaves the order PENDING, its claim given up", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		svc, id := stuckOrder(t, p)
		entered := make(chan struct{})
		p.inv.commit = func(ctx context.Context, _ string) error {
			close(entered)
			<-ctx.Done() // a peer call that ends only with its context
			return ctx.Err()
		}
		ctx, stop := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { _, err := svc.RecoveryPass(ctx); done <- err }()
		<-entered
		stop() // what shutdown does to the loop (lifecycle.Every's Close)
		if err := <-done; err != nil {
			t.Logf("the pass ended with %v", err)
		}
		o := stored(t, svc, id)
		wantStatus(t, o, order.Pending)
		if !o.ClaimedUntil.IsZero() {
			t.Errorf("the stopped pass left the order claimed until %v, want the claim given up", o.ClaimedUntil)
		}
	})

	t.Run("RecoverStale drives at most limit orders", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		svc, id := stuckOrder(t, p)
		if n, err := svc.RecoverStale(t.Context(), 0); n != 0 || err != nil {
			t.Errorf("RecoverStale(0): got %d, %v; want 0, nil", n, err)
		}
		wantStatus(t, stored(t, svc, id), order.Pending)
		if n, err := svc.RecoverStale(t.Context(), 5); n != 1 || err != nil {
			t.Errorf("RecoverStale(5): got %d, %v; want 1, nil", n, err)
		}
		wantStatus(t, stored(t, svc, id), order.Confirmed)
	})
}
