package order_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/order/internal/memstore"
	"github.com/shopmesh/shopmesh/order/internal/order"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

func TestService_Parking(t *testing.T) {
	t.Parallel()

	t.Run("runs that keep stopping short park the order once its attempts run out", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		svc, o, _ := parkedOrder(t, memstore.New(), p)
		wantStatus(t, o, order.NeedsAttention)
		if o.Attempts != 3 || !strings.HasPrefix(o.Attention, order.AttentionRetriesExhausted+":") {
			t.Errorf("attempts %d, attention %q; want 3 and %s", o.Attempts, o.Attention, order.AttentionRetriesExhausted)
		}
		if s := steps(o); s[len(s)-1] != order.StepParked {
			t.Errorf("history %v, want it to end parked", s)
		}
		list, next, err := svc.ListParked(t.Context(), 10, "")
		if err != nil || len(list) != 1 || list[0].ID != o.ID || next != "" {
			t.Errorf("ListParked: %v, %q, %v; want the one parked order", list, next, err)
		}
		// Recovery leaves a parked order alone.
		if n, _ := svc.RecoverStale(t.Context(), 10); n != 0 {
			t.Errorf("recovery claimed %d orders, want none: a parked order waits for an operator", n)
		}
	})

	t.Run("RetryOrder takes a parked placement up again where it stopped", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		store := memstore.New()
		_, o, restore := parkedOrder(t, store, p)
		restore()
		svc := newServiceOn(t, store, p)
		got, err := svc.RetryOrder(t.Context(), o.ID)
		if err != nil {
			t.Fatalf("RetryOrder: %v", err)
		}
		if got.Status != order.Pending || got.Attempts != 0 || got.Attention != "" {
			t.Errorf("got %s, %d attempts, attention %q; want PENDING, counted afresh", got.Status, got.Attempts, got.Attention)
		}
		wantStatus(t, waitStored(t, svc, o.ID), order.Confirmed)
		if p.reserved() != 1 {
			t.Errorf("%d reservations, want the first one kept", p.reserved())
		}
	})

	t.Run("CompensateOrder gives a parked order up: money and stock back, CANCELLED", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		store := memstore.New()
		_, o, _ := parkedOrder(t, store, p)
		svc := newServiceOn(t, store, p)
		got, err := svc.CompensateOrder(within(t, 5*time.Second), o.ID)
		if err != nil {
			t.Fatalf("CompensateOrder: %v", err)
		}
		if got.Status != order.Cancelled || got.Reason != order.ReasonCompensated {
			t.Errorf("got %s (%s), want CANCELLED (COMPENSATED)", got.Status, got.Reason)
		}
		if p.calls.count("refund") != 1 || p.calls.count("release") != 1 {
			t.Errorf("calls %v, want one refund and one release", p.calls.get())
		}
	})

	t.Run("only a parked order can be retried or compensated", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		svc := newService(t, p)
		o := place(t, svc, request("k-1"))
		if _, err := svc.RetryOrder(t.Context(), o.ID); apperr.CodeOf(err) != apperr.FailedPrecondition {
			t.Errorf("RetryOrder of a CONFIRMED order: %v, want FailedPrecondition", err)
		}
		if _, err := svc.CompensateOrder(t.Context(), o.ID); apperr.CodeOf(err) != apperr.FailedPrecondition {
			t.Errorf("CompensateOrder of a CONFIRMED order: %v, want FailedPrecondition", err)
		}
		if _, err := svc.RetryOrder(t.Context(), "ord_nope"); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("RetryOrder of an unknown order: %v, want NotFound", err)
		}
	})
}

// parkedOrder places an order over store whose every charge is
// unavailable, on a replica whose claims last 20ms so that recovery takes
// the order over at once, and runs recovery until its attempts run out. It
// returns that replica and the order, and lets the charge through once
// restore is called. An operator's retry or compensation is tested on
// another replica over store, whose claims last as long as a deployment's:
// then it fits in one run however slow the machine.
func parkedOrder(t *testing.T, store order.Store, p *peers) (*order.Service, order.Order, func()) {
	t.Helper()
	charge := p.pay.charge
	var down atomic.Bool
	down.Store(true)
	p.pay.charge = func(ctx context.Context, orderID string, amount order.Money, token string) (order.ChargeResult, error) {
		if down.Load() {
			p.calls.add("charge")
			return order.ChargeResult{}, apperr.New(apperr.Unavailable, "payment down")
		}
		return charge(ctx, orderID, amount, token)
	}
	svc := newServiceOn(t, store, p, order.WithMaxAttempts(3), order.WithRecoveryAfter(20*time.Millisecond))
	o, _, err := svc.Place(within(t, 5*time.Second), request("k-1"))
	if err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	return svc, recoverUntil(t, svc, o.ID), func() { down.Store(false) }
}
