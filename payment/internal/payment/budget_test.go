package payment_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/payment/internal/payment"
	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// leftIn returns the time until ctx's deadline, or -1 without one.
func leftIn(ctx context.Context) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return -1
	}
	return time.Until(dl)
}

// TestService_ChargeBudgets checks that the provider's timeout nests inside
// the call's budget and that the lookup after a lost answer has a budget of
// its own (seed rule 4).
func TestService_ChargeBudgets(t *testing.T) {
	t.Parallel()
	eur := payment.Money{Currency: "EUR", Minor: 1000}

	t.Run("the provider call keeps time for the lookup and the record", func(t *testing.T) {
		t.Parallel()
		var seen time.Duration
		p := &fakeProvider{charge: func(ctx context.Context, _ string, _ payment.Money, _ string) (payment.Charge, error) {
			seen = leftIn(ctx)
			return payment.Charge{ID: "ch_1"}, nil
		}}
		r := newReplica(t, nil, p)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		if _, err := r.Charge(ctx, "ord-1", eur, "tok_visa"); err != nil {
			t.Fatalf("Charge: %v", err)
		}
		// 2s minus the lookup (1s) and one record (0.5s).
		if want := 2*time.Second - api.ProviderLookupBudget - api.RecordBudget; seen > want || seen < want-200*time.Millisecond {
			t.Errorf("provider call had %v left, want just under %v", seen, want)
		}
	})

	t.Run("with plenty of time the provider call gets at most ProviderTimeoutMax", func(t *testing.T) {
		t.Parallel()
		var seen time.Duration
		p := &fakeProvider{charge: func(ctx context.Context, _ string, _ payment.Money, _ string) (payment.Charge, error) {
			seen = leftIn(ctx)
			return payment.Charge{ID: "ch_1"}, nil
		}}
		r := newReplica(t, nil, p)
		if _, err := r.Charge(t.Context(), "ord-1", eur, "tok_visa"); err != nil {
			t.Fatalf("Charge: %v", err)
		}
		if seen > api.ProviderTimeoutMax || seen < api.ProviderTimeoutMax-200*time.Millisecond {
			t.Errorf("provider call had %v left, want just under %v", seen, api.ProviderTimeoutMax)
		}
	})

	t.Run("the lookup after a lost answer runs on its own budget and settles the payment", func(t *testing.T) {
		t.Parallel()
		var lookupLeft time.Duration
		var lookupErr error
		p := &fakeProvider{
			charge: func(ctx context.Context, _ string, _ payment.Money, _ string) (payment.Charge, error) {
				<-ctx.Done() // the provider charged, then the answer never came
				return payment.Charge{}, errNoAnswer
			},
			findCharge: func(ctx context.Context, _ string) (payment.Charge, error) {
				lookupLeft, lookupErr = leftIn(ctx), ctx.Err()
				return payment.Charge{ID: "ch_1"}, nil
			},
		}
		r := newReplica(t, nil, p)
		ctx, cancel := context.WithTimeout(t.Context(), 1700*time.Millisecond)
		defer cancel()
		got, err := r.Charge(ctx, "ord-1", eur, "tok_visa")
		if err != nil {
			t.Fatalf("Charge: %v, want the charge the lookup found", err)
		}
		if got.Status != payment.Succeeded || got.ProviderChargeID != "ch_1" {
			t.Errorf("got payment %+v, want SUCCEEDED with ch_1", got)
		}
		if lookupErr != nil || lookupLeft < api.ProviderLookupBudget/2 || lookupLeft > api.ProviderLookupBudget {
			t.Errorf("lookup ran with %v left (err %v), want its own budget of %v", lookupLeft, lookupErr, api.ProviderLookupBudget)
		}
		wantStatus(t, r.store, "ord-1", payment.Succeeded)
	})

	t.Run("with too little time left nothing is sent", func(t *testing.T) {
		t.Parallel()
		p := &fakeProvider{}
		r := newReplica(t, nil, p)
		ctx, cancel := context.WithTimeout(t.Context(), api.ProviderLookupBudget+api.RecordBudget)
		defer cancel()
		_, err := r.Charge(ctx, "ord-1", eur, "tok_visa")
		wantCode(t, err, apperr.Timeout)
		if n := p.charges.Load() + p.chargeFinds.Load(); n != 0 {
			t.Errorf("the provider got %d calls, want none", n)
		}
		wantStatus(t, r.store, "ord-1", payment.Pending)
	})
}
