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
		o, _, err := svc.Place(within(t, 5*time.Second), request("k-1"))
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
		o, _, err := svc.Place(within(t, 5*time.Second), request("k-1"))
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
		o, _, err := svc.Place(within(t, 5*time.Second), request("k-1"))
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
		o, _, err := svc.Place(within(t, 5*time.Second), request("k-1"))
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
