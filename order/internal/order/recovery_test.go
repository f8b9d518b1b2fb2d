package order_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/order/internal/memstore"
	"github.com/shopmesh/shopmesh/order/internal/order"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

func TestStartRecovery_Invalid(t *testing.T) {
	t.Parallel()
	svc := newService(t, newPeers(t))
	tests := []struct {
		name     string
		svc      *order.Service
		interval time.Duration
	}{
		{"no service", nil, time.Second},
		{"zero interval", svc, 0},
		{"negative interval", svc, -time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if r, err := order.StartRecovery(t.Context(), tt.svc, tt.interval); err == nil {
				_ = r.Close(t.Context())
				t.Errorf("StartRecovery with %s returned no error", tt.name)
			}
		})
	}
}

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

	t.Run("the first pass runs at start and finishes a stale order", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		svc, id := stuckOrder(t, p)
		// An interval too long to matter: only the first pass can do it.
		r, err := order.StartRecovery(t.Context(), svc, time.Hour)
		if err != nil {
			t.Fatalf("StartRecovery: %v", err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for stored(t, svc, id).Status == order.Pending && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if err := r.Close(t.Context()); err != nil {
			t.Errorf("Close: %v", err)
		}
		wantStatus(t, stored(t, svc, id), order.Confirmed)
		if err := r.Close(t.Context()); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})

	t.Run("Close stops a pass at its next step and waits for it", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		svc, id := stuckOrder(t, p)
		entered := make(chan struct{})
		p.inv.commit = func(ctx context.Context, _ string) error {
			close(entered)
			<-ctx.Done() // a peer call that ends only with its context
			return ctx.Err()
		}
		r, err := order.StartRecovery(t.Context(), svc, time.Hour)
		if err != nil {
			t.Fatalf("StartRecovery: %v", err)
		}
		<-entered
		if err := r.Close(t.Context()); err != nil {
			t.Errorf("Close: %v", err)
		}
		o := stored(t, svc, id)
		wantStatus(t, o, order.Pending)
		if !o.ClaimedUntil.IsZero() {
			t.Errorf("the stopped pass left the order claimed until %v, want the claim given up", o.ClaimedUntil)
		}
	})

	t.Run("Close gives up waiting when its context ends", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		svc, _ := stuckOrder(t, p)
		entered, unblock := make(chan struct{}), make(chan struct{})
		p.inv.commit = func(context.Context, string) error {
			close(entered)
			<-unblock // a peer call that ignores its context
			return nil
		}
		r, err := order.StartRecovery(t.Context(), svc, time.Hour)
		if err != nil {
			t.Fatalf("StartRecovery: %v", err)
		}
		<-entered
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		if err := r.Close(ctx); err == nil {
			t.Error("Close returned nil while the loop was still running")
		}
		close(unblock)
		if err := r.Close(t.Context()); err != nil {
			t.Errorf("Close after the loop could stop: %v", err)
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
