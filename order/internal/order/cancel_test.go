package order_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/order/internal/memstore"
	"github.com/shopmesh/shopmesh/order/internal/order"
	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// inAnHour is a clock an hour ahead: every claim, grace period and wait
// between attempts of a process before it has run out.
func inAnHour() time.Time { return time.Now().Add(time.Hour) }

// recoverUntil runs recovery passes of svc until order id is no longer
// under way, or 5s; it returns the order as stored.
func recoverUntil(t *testing.T, svc *order.Service, id string) order.Order {
	t.Helper()
	end := time.Now().Add(5 * time.Second)
	for {
		if _, err := svc.RecoverStale(t.Context(), 10); err != nil {
			t.Fatalf("RecoverStale: %v", err)
		}
		o := stored(t, svc, id)
		if !o.Status.InFlight() || time.Now().After(end) {
			return o
		}
		time.Sleep(time.Millisecond)
	}
}

func TestService_CancelOrder_Unfinished(t *testing.T) {
	t.Parallel()

	t.Run("restock failing for a while: the run retries it without refunding again", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		release := p.inv.release
		var failures atomic.Int32
		failures.Store(2)
		p.inv.release = func(ctx context.Context, orderID string) error {
			if failures.Add(-1) >= 0 {
				p.calls.add("release")
				return apperr.New(apperr.Unavailable, "inventory down")
			}
			return release(ctx, orderID)
		}
		svc := newService(t, p)
		o := place(t, svc, request("k-1"))
		got, err := svc.CancelOrder(within(t, 5*time.Second), o.ID)
		if err != nil {
			t.Fatalf("CancelOrder: %v", err)
		}
		wantStatus(t, got, order.Cancelled)
		wantCalls(t, p, "reserve", "charge", "commit", "refund", "release", "release", "release")
	})

	// Finding: a refund recorded on a CONFIRMED order whose restock then
	// failed left it CONFIRMED (it would ship), refunded, its stock never
	// returned, and recovery never looked at it.
	t.Run("restock failing past the request: CANCELLING, refund recorded, recovery restocks", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		store := memstore.New()
		release := p.inv.release
		var down atomic.Bool
		down.Store(true)
		p.inv.release = func(ctx context.Context, orderID string) error {
			if down.Load() {
				p.calls.add("release")
				return apperr.New(apperr.Unavailable, "inventory down")
			}
			return release(ctx, orderID)
		}
		first := newServiceOn(t, store, p)
		o := place(t, first, request("k-1"))
		got, err := first.CancelOrder(within(t, 100*time.Millisecond), o.ID)
		if err != nil {
			t.Fatalf("CancelOrder: %v, want the order answered as it is", err)
		}
		wantStatus(t, got, order.Cancelling)
		closeService(t, first)
		mid := stored(t, first, o.ID)
		wantStatus(t, mid, order.Cancelling)
		if !mid.Reached(order.StepRefunded) || mid.Reached(order.StepRestocked) {
			t.Errorf("history %v, want the refund recorded and no restock", steps(mid))
		}

		down.Store(false)
		later := newServiceOn(t, store, p, order.WithClock(inAnHour))
		done := recoverUntil(t, later, o.ID)
		wantStatus(t, done, order.Cancelled)
		if n := p.calls.count("refund"); n != 1 {
			t.Errorf("%d refunds, want 1", n)
		}
	})

	t.Run("refund unavailable past the request: CANCELLING, stock still sold, recovery finishes", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		store := memstore.New()
		refund := p.pay.refund
		var down atomic.Bool
		down.Store(true)
		p.pay.refund = func(ctx context.Context, orderID string) error {
			if down.Load() {
				p.calls.add("refund")
				return apperr.New(apperr.Unavailable, "payment down")
			}
			return refund(ctx, orderID)
		}
		first := newServiceOn(t, store, p)
		o := place(t, first, request("k-1"))
		if got, err := first.CancelOrder(within(t, 100*time.Millisecond), o.ID); err != nil || got.Status != order.Cancelling {
			t.Fatalf("CancelOrder: %s, %v; want CANCELLING", got.Status, err)
		}
		closeService(t, first)
		if n := p.calls.count("release"); n != 0 {
			t.Errorf("%d restocks before the refund, want 0: the stock stays sold until the money is back", n)
		}
		down.Store(false)
		wantStatus(t, recoverUntil(t, newServiceOn(t, store, p, order.WithClock(inAnHour)), o.ID), order.Cancelled)
	})

	t.Run("a second cancellation while one runs answers the order as it is", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		svc := newService(t, p)
		o := place(t, svc, request("k-1"))
		refund := p.pay.refund
		var second order.Order
		var secondErr error
		nested := false
		p.pay.refund = func(ctx context.Context, orderID string) error {
			if !nested { // the run's goroutine only: no lock needed
				nested = true
				second, secondErr = svc.CancelOrder(ctx, orderID)
			}
			return refund(ctx, orderID)
		}
		got, err := svc.CancelOrder(within(t, 5*time.Second), o.ID)
		if err != nil {
			t.Fatalf("CancelOrder: %v", err)
		}
		wantStatus(t, got, order.Cancelled)
		if secondErr != nil || second.Status != order.Cancelling {
			t.Errorf("the second cancellation: %s, %v; want CANCELLING, no error", second.Status, secondErr)
		}
		if n := p.calls.count("refund"); n != 1 {
			t.Errorf("%d refunds, want 1", n)
		}
	})

	t.Run("refund refused by the provider: parked for an operator, stock still sold", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		p.pay.refund = func(context.Context, string) error {
			p.calls.add("refund")
			return apperr.New(apperr.FailedPrecondition, "provider refused").WithReason(api.ReasonRefundFailed)
		}
		svc := newService(t, p)
		o := place(t, svc, request("k-1"))
		got, err := svc.CancelOrder(within(t, 5*time.Second), o.ID)
		if err != nil {
			t.Fatalf("CancelOrder: %v", err)
		}
		wantStatus(t, got, order.NeedsAttention)
		if !strings.HasPrefix(got.Attention, order.AttentionRefundRefused+":") {
			t.Errorf("attention %q, want it to start with %s", got.Attention, order.AttentionRefundRefused)
		}
		wantCalls(t, p, "reserve", "charge", "commit", "refund")
	})
}

func TestService_PlaceOrder_FinalRefusals(t *testing.T) {
	t.Parallel()

	// Finding: a provider refusal that is not a decline (an invalid token)
	// left the order PENDING for good with its stock held, and recovery
	// charged it again every pass.
	t.Run("the provider refuses the payment details: PAYMENT_FAILED, stock released at once", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		p.pay.charge = func(context.Context, string, order.Money, string) (order.ChargeResult, error) {
			p.calls.add("charge")
			return order.ChargeResult{}, apperr.New(apperr.FailedPrecondition, "invalid token").WithReason(api.ReasonPaymentFailed)
		}
		svc := newService(t, p)
		o, err := svc.PlaceOrder(within(t, 5*time.Second), request("k-1"))
		wantOutcome(t, err, order.ReasonPaymentFailed, o.ID)
		wantStatus(t, stored(t, svc, o.ID), order.PaymentFailed)
		wantCalls(t, p, "reserve", "charge", "release")
	})

	// Finding: a MIXED_CURRENCY refusal was reported as OUT_OF_STOCK.
	t.Run("mixed currencies: REJECTED for MIXED_CURRENCY", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		p.inv.reserve = func(context.Context, string, []order.Item) (order.Reservation, error) {
			return order.Reservation{}, apperr.New(apperr.FailedPrecondition, "mixed").WithReason(api.ReasonMixedCurrency)
		}
		svc := newService(t, p)
		o, err := svc.PlaceOrder(within(t, 5*time.Second), request("k-1"))
		if apperr.ReasonOf(err) != order.ReasonMixedCurrency {
			t.Errorf("got %v, want reason %s", err, order.ReasonMixedCurrency)
		}
		got := stored(t, svc, o.ID)
		if got.Status != order.Rejected || got.Reason != order.ReasonMixedCurrency {
			t.Errorf("got %s (%s), want REJECTED (MIXED_CURRENCY)", got.Status, got.Reason)
		}
	})

	// Finding: in refund-and-reject any refund error but NotFound was
	// retried for ever.
	lostReservation := func(p *peers) {
		p.inv.commit = func(context.Context, string) error {
			p.calls.add("commit")
			return apperr.New(apperr.FailedPrecondition, "gone").WithReason(api.ReasonNotReserved)
		}
	}
	t.Run("reservation lost before commit, nothing to refund: REJECTED", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		lostReservation(p)
		p.pay.refund = func(context.Context, string) error {
			p.calls.add("refund")
			return apperr.New(apperr.FailedPrecondition, "nothing taken").WithReason(api.ReasonNothingToRefund)
		}
		svc := newService(t, p)
		o, err := svc.PlaceOrder(within(t, 5*time.Second), request("k-1"))
		wantOutcome(t, err, order.ReasonReservationExpired, o.ID)
		wantCalls(t, p, "reserve", "charge", "commit", "refund", "release")
	})

	t.Run("reservation lost before commit, refund refused: parked with the money taken", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		lostReservation(p)
		p.pay.refund = func(context.Context, string) error {
			p.calls.add("refund")
			return apperr.New(apperr.FailedPrecondition, "refused").WithReason(api.ReasonRefundFailed)
		}
		svc := newService(t, p)
		o, err := svc.PlaceOrder(within(t, 5*time.Second), request("k-1"))
		if err != nil {
			t.Fatalf("PlaceOrder: %v, want the parked order", err)
		}
		wantStatus(t, o, order.NeedsAttention)
		if !strings.HasPrefix(o.Attention, order.AttentionRefundRefused) {
			t.Errorf("attention %q, want %s", o.Attention, order.AttentionRefundRefused)
		}
		wantCalls(t, p, "reserve", "charge", "commit", "refund")
	})
}

func TestService_Parking(t *testing.T) {
	t.Parallel()

	// parkedOrder places an order whose every charge is unavailable and
	// runs recovery until its attempts run out; it returns the service and
	// the order, and lets the charge through once restore is called.
	parkedOrder := func(t *testing.T, p *peers) (*order.Service, order.Order, func()) {
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
		svc := newService(t, p, order.WithMaxAttempts(3), order.WithRecoveryAfter(20*time.Millisecond))
		o, err := svc.PlaceOrder(within(t, 5*time.Second), request("k-1"))
		if err != nil {
			t.Fatalf("PlaceOrder: %v", err)
		}
		return svc, recoverUntil(t, svc, o.ID), func() { down.Store(false) }
	}

	t.Run("runs that keep stopping short park the order once its attempts run out", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		svc, o, _ := parkedOrder(t, p)
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
		svc, o, restore := parkedOrder(t, p)
		restore()
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
		svc, o, _ := parkedOrder(t, p)
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
