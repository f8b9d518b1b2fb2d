// Package storetest is the contract every payment.Store keeps. The
// in-memory and the Postgres store both run it, so unit tests on the one
// say something about the other.
package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/payment/internal/payment"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// Run runs the contract against stores made by newStore, a fresh empty
// store per call.
func Run(t *testing.T, newStore func(t *testing.T) payment.Store) {
	t.Helper()
	ctx := t.Context()

	t.Run("get of a missing payment is NotFound", func(t *testing.T) {
		t.Parallel()
		_, err := newStore(t).Get(ctx, "ord-none")
		wantCode(t, err, apperr.NotFound)
	})

	t.Run("create stores the attempt and get returns it as created", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		p := pending("ord-1")
		got, created, err := s.Create(ctx, p)
		if err != nil || !created {
			t.Fatalf("Create: got created=%v, %v; want created", created, err)
		}
		wantPayment(t, "Create", got, p)
		read, err := s.Get(ctx, "ord-1")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		wantPayment(t, "Get", read, p)
	})

	t.Run("create of an existing payment returns it unchanged", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		first := pending("ord-1")
		mustCreate(t, s, first)
		other := pending("ord-1")
		other.Amount = payment.Money{Currency: "USD", Minor: 1}
		other.CreatedAt = first.CreatedAt.Add(time.Hour)
		got, created, err := s.Create(ctx, other)
		if err != nil || created {
			t.Fatalf("second Create: got created=%v, %v; want the existing payment", created, err)
		}
		wantPayment(t, "second Create", got, first)
		read, _ := s.Get(ctx, "ord-1")
		wantPayment(t, "Get", read, first)
	})

	t.Run("a charge key belongs to one payment", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		mustCreate(t, s, pending("ord-1"))
		other := pending("ord-2")
		other.ChargeKey = payment.IdempotencyKey("ord-1")
		_, _, err := s.Create(ctx, other)
		wantCode(t, err, apperr.Conflict)
		_, err = s.Get(ctx, "ord-2")
		wantCode(t, err, apperr.NotFound)
	})

	t.Run("create without an order id is an error", func(t *testing.T) {
		t.Parallel()
		if _, _, err := newStore(t).Create(ctx, pending("")); err == nil {
			t.Error("got no error")
		}
	})

	t.Run("update from the stored status saves every mutable field", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		p := pending("ord-1")
		mustCreate(t, s, p)
		q := p
		q.Status = payment.RefundPending
		q.ProviderChargeID, q.DeclineReason, q.FailureReason = "ch_1", "none", "earlier refund refused"
		q.RefundKey, q.ProviderRefundID = payment.RefundKey("ord-1"), "re_ch_1"
		q.UpdatedAt = p.UpdatedAt.Add(time.Second)
		if err := s.Update(ctx, q, payment.Pending); err != nil {
			t.Fatalf("Update: %v", err)
		}
		read, _ := s.Get(ctx, "ord-1")
		wantPayment(t, "Get", read, q)
	})

	t.Run("update never changes what identifies the attempt", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		p := pending("ord-1")
		mustCreate(t, s, p)
		q := p
		q.Status = payment.Succeeded
		q.Amount = payment.Money{Currency: "USD", Minor: 1}
		q.ChargeKey = "other-key"
		q.CreatedAt = p.CreatedAt.Add(-time.Hour)
		if err := s.Update(ctx, q, payment.Pending); err != nil {
			t.Fatalf("Update: %v", err)
		}
		read, _ := s.Get(ctx, "ord-1")
		want := q
		want.Amount, want.ChargeKey, want.CreatedAt = p.Amount, p.ChargeKey, p.CreatedAt
		wantPayment(t, "Get", read, want)
	})

	t.Run("update from another status is Aborted and changes nothing", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		p := pending("ord-1")
		mustCreate(t, s, p)
		q := p
		q.Status = payment.Refunded
		wantCode(t, s.Update(ctx, q, payment.Succeeded), apperr.Aborted)
		read, _ := s.Get(ctx, "ord-1")
		wantPayment(t, "Get", read, p)
	})

	t.Run("update of a missing payment is NotFound", func(t *testing.T) {
		t.Parallel()
		wantCode(t, newStore(t).Update(ctx, pending("ord-none"), payment.Pending), apperr.NotFound)
	})

	t.Run("payments of different orders are apart", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		a, b := pending("ord-a"), pending("ord-b")
		mustCreate(t, s, a)
		mustCreate(t, s, b)
		q := a
		q.Status = payment.Declined
		if err := s.Update(ctx, q, payment.Pending); err != nil {
			t.Fatalf("Update: %v", err)
		}
		read, _ := s.Get(ctx, "ord-b")
		wantPayment(t, "Get ord-b", read, b)
	})

	t.Run("concurrent creates of one order store one", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const n = 32
		var wg sync.WaitGroup
		created := make([]bool, n)
		got := make([]payment.Payment, n)
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				p := pending("ord-1")
				p.ProviderChargeID = fmt.Sprint("attempt-", i) // tells the attempts apart
				got[i], created[i], errs[i] = s.Create(ctx, p)
			})
		}
		close(start)
		wg.Wait()
		winners := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("Create #%d: %v", i, errs[i])
			}
			if created[i] {
				winners++
			}
			if got[i] != got[0] {
				t.Errorf("Create #%d returned %+v, want the one stored payment %+v", i, got[i], got[0])
			}
		}
		if winners != 1 {
			t.Errorf("%d creates reported storing the payment, want 1", winners)
		}
	})

	t.Run("concurrent updates from one status: one wins", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		p := pending("ord-1")
		mustCreate(t, s, p)
		const n = 16
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				q := p
				q.Status, q.ProviderChargeID = payment.Succeeded, fmt.Sprint("ch_", i)
				errs[i] = s.Update(ctx, q, payment.Pending)
			})
		}
		close(start)
		wg.Wait()
		wins := 0
		for i, err := range errs {
			switch apperr.CodeOf(err) {
			case "":
				wins++
			case apperr.Aborted:
			default:
				t.Errorf("Update #%d: %v, want nil or Aborted", i, err)
			}
		}
		if wins != 1 {
			t.Errorf("%d updates won, want 1", wins)
		}
	})
}

// pending is a new attempt for orderID as the service records it.
func pending(orderID string) payment.Payment {
	at := time.Date(2026, 11, 3, 10, 30, 0, 123456000, time.UTC)
	return payment.Payment{
		OrderID: orderID, Amount: payment.Money{Currency: "EUR", Minor: 4980},
		Status: payment.Pending, ChargeKey: payment.IdempotencyKey(orderID),
		CreatedAt: at, UpdatedAt: at,
	}
}

func mustCreate(t *testing.T, s payment.Store, p payment.Payment) {
	t.Helper()
	if _, created, err := s.Create(t.Context(), p); err != nil || !created {
		t.Fatalf("Create(%s): got created=%v, %v; want created", p.OrderID, created, err)
	}
}

func wantPayment(t *testing.T, what string, got, want payment.Payment) {
	t.Helper()
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("%s: got times %v/%v, want %v/%v", what, got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	}
	got.CreatedAt, got.UpdatedAt = want.CreatedAt, want.UpdatedAt
	if got != want {
		t.Errorf("%s: got %+v, want %+v", what, got, want)
	}
}

func wantCode(t *testing.T, err error, want apperr.Code) {
	t.Helper()
	if got := apperr.CodeOf(err); got != want {
		t.Errorf("got error %v (code %q), want code %q", err, got, want)
	}
}
