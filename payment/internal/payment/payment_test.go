package payment_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/payment/internal/memstore"
	"github.com/shopmesh/shopmesh/payment/internal/payment"
	"github.com/shopmesh/shopmesh/payment/internal/pspclient"
	"github.com/shopmesh/shopmesh/paysim"
	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
)

// fakeProvider is a payment.Provider whose methods are set per test; a
// method left nil goes to next.
type fakeProvider struct {
	next       payment.Provider
	charge     func(ctx context.Context, key string, amount payment.Money, token string) (payment.Charge, error)
	findCharge func(ctx context.Context, key string) (payment.Charge, error)
	refund     func(ctx context.Context, key, chargeID string) (payment.Refund, error)
	findRefund func(ctx context.Context, key string) (payment.Refund, error)

	// Calls that reached the fake, by method.
	charges, chargeFinds, refunds, refundFinds atomic.Int64
}

func (f *fakeProvider) Charge(ctx context.Context, key string, amount payment.Money, token string) (payment.Charge, error) {
	f.charges.Add(1)
	if f.charge != nil {
		return f.charge(ctx, key, amount, token)
	}
	return f.next.Charge(ctx, key, amount, token)
}

func (f *fakeProvider) FindCharge(ctx context.Context, key string) (payment.Charge, error) {
	f.chargeFinds.Add(1)
	if f.findCharge != nil {
		return f.findCharge(ctx, key)
	}
	return f.next.FindCharge(ctx, key)
}

func (f *fakeProvider) Refund(ctx context.Context, key, chargeID string) (payment.Refund, error) {
	f.refunds.Add(1)
	if f.refund != nil {
		return f.refund(ctx, key, chargeID)
	}
	return f.next.Refund(ctx, key, chargeID)
}

func (f *fakeProvider) FindRefund(ctx context.Context, key string) (payment.Refund, error) {
	f.refundFinds.Add(1)
	if f.findRefund != nil {
		return f.findRefund(ctx, key)
	}
	return f.next.FindRefund(ctx, key)
}

// errNoAnswer stands for a lost answer: the outcome is unknown.
var errNoAnswer = errors.New("read tcp: connection reset by peer")

// psp is the simulator over TLS and a real pspclient for it.
type psp struct {
	sim    *paysim.Server
	client *pspclient.Client
}

// newPSP starts paysim with API key "key" behind a TLS httptest server and
// returns a pspclient that sends apiKey, on a client from httpclient.New
// with opts applied.
func newPSP(t *testing.T, apiKey string, simOpts []paysim.Option, opts ...func(*httpclient.Options)) psp {
	t.Helper()
	sim, err := paysim.New("key", slog.New(slog.DiscardHandler), simOpts...)
	if err != nil {
		t.Fatalf("paysim.New: %v", err)
	}
	srv := httptest.NewTLSServer(sim.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(sim.Close) // runs first: releases hung requests
	o := httpclient.Options{Name: "psp", TLSConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig}
	for _, f := range opts {
		f(&o)
	}
	hc, err := httpclient.New(o)
	if err != nil {
		t.Fatalf("httpclient.New: %v", err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	c, err := pspclient.New(hc, srv.URL, apiKey)
	if err != nil {
		t.Fatalf("pspclient.New: %v", err)
	}
	return psp{sim: sim, client: c}
}

// replica is one payment service instance and its store.
type replica struct {
	*payment.Service
	store payment.Store
}

// newReplica returns a Service over store, or over a fresh in-memory store
// when store is nil.
func newReplica(t *testing.T, store payment.Store, provider payment.Provider, opts ...payment.Option) replica {
	t.Helper()
	if store == nil {
		store = memstore.New()
	}
	svc, err := payment.NewService(store, provider, opts...)
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	return replica{Service: svc, store: store}
}

// charge charges orderID and fails the test on error.
func charge(t *testing.T, svc *payment.Service, orderID string, amount payment.Money, token string) payment.Payment {
	t.Helper()
	p, err := svc.Charge(context.Background(), orderID, amount, token)
	if err != nil {
		t.Fatalf("Charge(%q): %v", orderID, err)
	}
	return p
}

// wantCode fails the test unless err carries the apperr code (and, if
// given, the reason) want.
func wantCode(t *testing.T, err error, want apperr.Code, reason ...string) {
	t.Helper()
	if got := apperr.CodeOf(err); got != want {
		t.Fatalf("got error %v (code %q), want code %q", err, got, want)
	}
	if len(reason) > 0 && apperr.ReasonOf(err) != reason[0] {
		t.Errorf("got reason %q, want %q", apperr.ReasonOf(err), reason[0])
	}
}

// wantStatus fails the test unless the stored payment of orderID has status.
func wantStatus(t *testing.T, store payment.Store, orderID string, want payment.Status) payment.Payment {
	t.Helper()
	p, err := store.Get(context.Background(), orderID)
	if err != nil {
		t.Fatalf("Get(%q): %v", orderID, err)
	}
	if p.Status != want {
		t.Errorf("payment of %s is %s, want %s", orderID, p.Status, want)
	}
	return p
}

// waitForStatus waits until orderID's payment is in status want.
func waitForStatus(t *testing.T, store payment.Store, orderID string, want payment.Status) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if p, err := store.Get(context.Background(), orderID); err == nil && p.Status == want {
			return
		}
	}
	t.Fatalf("payment of %s never became %s", orderID, want)
}

// wantCharged fails the test unless the simulator made charges succeeded
// charges, declines declines and refunds refunds.
func wantCharged(t *testing.T, sim *paysim.Server, charges, declines, refunds int) {
	t.Helper()
	if got := sim.Stats(); got.Charges != charges || got.Declines != declines || got.Refunds != refunds {
		t.Errorf("got provider stats %+v, want %d charges, %d declines, %d refunds", got, charges, declines, refunds)
	}
}

var eur = payment.Money{Currency: "EUR", Minor: 4980}

func TestNewService_MissingDependencies(t *testing.T) {
	t.Parallel()
	if _, err := payment.NewService(nil, &fakeProvider{}); err == nil {
		t.Error("NewService with a nil store returned no error")
	}
	if _, err := payment.NewService(memstore.New(), nil); err == nil {
		t.Error("NewService with a nil provider returned no error")
	}
}

func TestService_Charge(t *testing.T) {
	t.Parallel()

	t.Run("succeeds once, and a repeat returns the same payment", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", nil)
		fake := &fakeProvider{next: p.client}
		r := newReplica(t, nil, fake)

		first := charge(t, r.Service, "ord-1", eur, "tok_visa")
		if first.Status != payment.Succeeded || first.ProviderChargeID == "" || first.Amount != eur || first.OrderID != "ord-1" {
			t.Errorf("got %+v, want a succeeded payment of %+v for ord-1 with a charge id", first, eur)
		}
		if first.ChargeKey != payment.IdempotencyKey("ord-1") || first.CreatedAt.IsZero() || first.UpdatedAt.Before(first.CreatedAt) {
			t.Errorf("got key %q, times %v/%v; want the order's key and set times", first.ChargeKey, first.CreatedAt, first.UpdatedAt)
		}
		again := charge(t, r.Service, "ord-1", eur, "tok_visa")
		if again != first {
			t.Errorf("repeat got %+v, want %+v", again, first)
		}
		wantCharged(t, p.sim, 1, 0, 0)
		if got := fake.charges.Load() + fake.chargeFinds.Load(); got != 1 {
			t.Errorf("got %d provider calls, want 1 (the repeat is answered from the store)", got)
		}
	})

	t.Run("the attempt is recorded before the provider is called", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", nil)
		store := memstore.New()
		r := newReplica(t, store, &fakeProvider{next: p.client,
			charge: func(ctx context.Context, key string, amount payment.Money, token string) (payment.Charge, error) {
				rec := wantStatus(t, store, "ord-1", payment.Pending)
				if rec.ChargeKey != key || key != payment.IdempotencyKey("ord-1") {
					t.Errorf("recorded key %q, charging with %q; want both %q", rec.ChargeKey, key, payment.IdempotencyKey("ord-1"))
				}
				return p.client.Charge(ctx, key, amount, token)
			}})
		charge(t, r.Service, "ord-1", eur, "tok_visa")
		wantStatus(t, store, "ord-1", payment.Succeeded)
	})

	t.Run("another replica without the record does not charge again", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", nil)
		a := charge(t, newReplica(t, nil, p.client).Service, "ord-1", eur, "tok_visa")
		b := charge(t, newReplica(t, nil, p.client).Service, "ord-1", eur, "tok_visa")
		if a.ProviderChargeID != b.ProviderChargeID {
			t.Errorf("replicas got charges %q and %q, want one", a.ProviderChargeID, b.ProviderChargeID)
		}
		wantCharged(t, p.sim, 1, 0, 0)
	})

	t.Run("a lost answer is resolved by a lookup, not a second charge", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", nil)
		fake := &fakeProvider{next: p.client,
			charge: func(ctx context.Context, key string, amount payment.Money, token string) (payment.Charge, error) {
				if _, err := p.client.Charge(ctx, key, amount, token); err != nil {
					t.Errorf("charge: %v", err)
				}
				return payment.Charge{}, errNoAnswer // charged, but we never heard
			}}
		r := newReplica(t, nil, fake)
		got := charge(t, r.Service, "ord-1", eur, "tok_visa")
		if got.Status != payment.Succeeded || got.ProviderChargeID == "" {
			t.Errorf("got %+v, want the charge found by key, succeeded", got)
		}
		if n := fake.charges.Load(); n != 1 {
			t.Errorf("got %d charge calls, want 1", n)
		}
		wantCharged(t, p.sim, 1, 0, 0)
	})

	t.Run("unknown outcome and a failed lookup: Unavailable, then the repeat resolves it", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", nil)
		var down atomic.Bool
		down.Store(true)
		fake := &fakeProvider{next: p.client,
			charge: func(ctx context.Context, key string, amount payment.Money, token string) (payment.Charge, error) {
				ch, err := p.client.Charge(ctx, key, amount, token)
				if down.Load() {
					return payment.Charge{}, errNoAnswer
				}
				return ch, err
			},
			findCharge: func(ctx context.Context, key string) (payment.Charge, error) {
				if down.Load() {
					return payment.Charge{}, errNoAnswer
				}
				return p.client.FindCharge(ctx, key)
			}}
		r := newReplica(t, nil, fake)
		_, err := r.Charge(context.Background(), "ord-1", eur, "tok_visa")
		wantCode(t, err, apperr.Unavailable)
		if !errors.Is(err, errNoAnswer) {
			t.Errorf("got %v, want the cause kept for the log", err)
		}
		wantStatus(t, r.store, "ord-1", payment.Pending)

		down.Store(false)
		got := charge(t, r.Service, "ord-1", eur, "tok_visa")
		if got.Status != payment.Succeeded {
			t.Errorf("repeat got %s, want SUCCEEDED", got.Status)
		}
		if n := fake.charges.Load(); n != 1 {
			t.Errorf("got %d charge calls, want 1: the repeat found the charge by key", n)
		}
		wantCharged(t, p.sim, 1, 0, 0)
	})

	t.Run("a pending attempt that never reached the provider is charged with the same key", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", nil)
		var keys []string
		var mu sync.Mutex
		fake := &fakeProvider{next: p.client,
			charge: func(ctx context.Context, key string, amount payment.Money, token string) (payment.Charge, error) {
				mu.Lock()
				keys = append(keys, key)
				first := len(keys) == 1
				mu.Unlock()
				if first {
					return payment.Charge{}, errNoAnswer // lost on the way: nothing charged
				}
				return p.client.Charge(ctx, key, amount, token)
			}}
		r := newReplica(t, nil, fake)
		_, err := r.Charge(context.Background(), "ord-1", eur, "tok_visa")
		wantCode(t, err, apperr.Unavailable)
		charge(t, r.Service, "ord-1", eur, "tok_visa")
		mu.Lock()
		defer mu.Unlock()
		if len(keys) != 2 || keys[0] != keys[1] {
			t.Errorf("charged with keys %q, want the same key twice", keys)
		}
		wantCharged(t, p.sim, 1, 0, 0)
	})

	t.Run("concurrent charges of one order charge once", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", nil)
		store := memstore.New()
		replicas := []replica{newReplica(t, store, p.client), newReplica(t, store, p.client)}
		const n = 10
		ids := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				pay, err := replicas[i%2].Charge(context.Background(), "ord-1", eur, "tok_visa")
				ids[i], errs[i] = pay.ProviderChargeID, err
			})
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("Charge #%d: %v", i, errs[i])
			}
			if ids[i] != ids[0] {
				t.Errorf("Charge #%d got charge %q, want %q", i, ids[i], ids[0])
			}
		}
		wantCharged(t, p.sim, 1, 0, 0)
	})

	t.Run("declined is a payment, not an error", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", nil)
		fake := &fakeProvider{next: p.client}
		r := newReplica(t, nil, fake)
		got := charge(t, r.Service, "ord-1", eur, paysim.DeclineToken)
		if got.Status != payment.Declined || got.DeclineReason != "card_declined" {
			t.Errorf("got status %s reason %q, want DECLINED with card_declined", got.Status, got.DeclineReason)
		}
		// The decline is recorded: a repeat neither asks again nor succeeds.
		if again := charge(t, r.Service, "ord-1", eur, paysim.DeclineToken); again.Status != payment.Declined {
			t.Errorf("repeat got status %s, want DECLINED", again.Status)
		}
		wantCharged(t, p.sim, 0, 1, 0)
		if n := fake.charges.Load(); n != 1 {
			t.Errorf("got %d charge calls, want 1", n)
		}
	})

	t.Run("refused by the provider: FailedPrecondition, recorded FAILED", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", nil)
		fake := &fakeProvider{next: p.client}
		r := newReplica(t, nil, fake)
		for range 2 {
			_, err := r.Charge(context.Background(), "ord-1", eur, paysim.InvalidToken)
			wantCode(t, err, apperr.FailedPrecondition, payment.ReasonPaymentFailed)
		}
		rec := wantStatus(t, r.store, "ord-1", payment.Failed)
		if !strings.Contains(rec.FailureReason, "invalid_source") {
			t.Errorf("got failure reason %q, want the provider's", rec.FailureReason)
		}
		if n := fake.charges.Load(); n != 1 {
			t.Errorf("got %d charge calls, want 1: a failure is final", n)
		}
		wantCharged(t, p.sim, 0, 0, 0)
	})

	t.Run("wrong api key is Unavailable and leaves the attempt pending", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "wrong", nil)
		r := newReplica(t, nil, p.client)
		_, err := r.Charge(context.Background(), "ord-1", eur, "tok_visa")
		wantCode(t, err, apperr.Unavailable)
		wantStatus(t, r.store, "ord-1", payment.Pending)
		wantCharged(t, p.sim, 0, 0, 0)
	})

	t.Run("an open circuit is Unavailable and says so", func(t *testing.T) {
		t.Parallel()
		down := fmtErr{payment.ErrProviderDown}
		r := newReplica(t, nil, &fakeProvider{
			charge: func(context.Context, string, payment.Money, string) (payment.Charge, error) {
				return payment.Charge{}, down
			},
			findCharge: func(context.Context, string) (payment.Charge, error) { return payment.Charge{}, down },
		})
		_, err := r.Charge(context.Background(), "ord-1", eur, "tok_visa")
		wantCode(t, err, apperr.Unavailable)
		var ae *apperr.Error
		if !errors.As(err, &ae) || !strings.Contains(ae.Message, "circuit open") {
			t.Errorf("got %v, want a message naming the open circuit", err)
		}
	})

	t.Run("another amount on repeat is a conflict", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", nil)
		r := newReplica(t, nil, p.client)
		charge(t, r.Service, "ord-1", eur, "tok_visa")
		_, err := r.Charge(context.Background(), "ord-1", payment.Money{Currency: "EUR", Minor: eur.Minor + 1}, "tok_visa")
		wantCode(t, err, apperr.Conflict)
		_, err = r.Charge(context.Background(), "ord-1", payment.Money{Currency: "USD", Minor: eur.Minor}, "tok_visa")
		wantCode(t, err, apperr.Conflict)
		wantCharged(t, p.sim, 1, 0, 0)
	})

	invalid := []struct {
		name    string
		orderID string
		amount  payment.Money
	}{
		{"empty order id", "", eur},
		{"zero amount", "ord-1", payment.Money{Currency: "EUR", Minor: 0}},
		{"negative amount", "ord-1", payment.Money{Currency: "EUR", Minor: -100}},
		{"no currency", "ord-1", payment.Money{Minor: 100}},
		{"currency not 3 letters", "ord-1", payment.Money{Currency: "EURO", Minor: 100}},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := &fakeProvider{}
			r := newReplica(t, nil, fake)
			_, err := r.Charge(context.Background(), tt.orderID, tt.amount, "tok_visa")
			wantCode(t, err, apperr.Invalid)
			if n := fake.charges.Load() + fake.chargeFinds.Load(); n != 0 {
				t.Errorf("invalid charge made %d provider calls, want 0", n)
			}
			if _, err := r.store.Get(context.Background(), tt.orderID); apperr.CodeOf(err) != apperr.NotFound {
				t.Errorf("got %v, want nothing recorded", err)
			}
		})
	}
}

// fmtErr wraps an error the way an adapter does.
type fmtErr struct{ err error }

func (e fmtErr) Error() string { return "GET /v1/charges: " + e.err.Error() }
func (e fmtErr) Unwrap() error { return e.err }

func TestService_Refund(t *testing.T) {
	t.Parallel()

	t.Run("twice refunds once", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", nil)
		fake := &fakeProvider{next: p.client}
		r := newReplica(t, nil, fake)
		charge(t, r.Service, "ord-1", eur, "tok_visa")
		for i := range 2 {
			got, err := r.Refund(context.Background(), "ord-1")
			if err != nil {
				t.Fatalf("Refund #%d: %v", i+1, err)
			}
			if got.Status != payment.Refunded || got.ProviderRefundID == "" || got.RefundKey != payment.RefundKey("ord-1") {
				t.Errorf("Refund #%d: got %+v, want REFUNDED with the refund's id and key", i+1, got)
			}
		}
		wantCharged(t, p.sim, 1, 0, 1)
		if got := fake.refunds.Load() + fake.refundFinds.Load(); got != 1 {
			t.Errorf("got %d refund calls to the provider, want 1", got)
		}
		wantStatus(t, r.store, "ord-1", payment.Refunded)
	})

	t.Run("a lost answer is resolved by a lookup", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", nil)
		fake := &fakeProvider{next: p.client,
			refund: func(ctx context.Context, key, chargeID string) (payment.Refund, error) {
				if _, err := p.client.Refund(ctx, key, chargeID); err != nil {
					t.Errorf("refund: %v", err)
				}
				return payment.Refund{}, errNoAnswer
			}}
		r := newReplica(t, nil, fake)
		charge(t, r.Service, "ord-1", eur, "tok_visa")
		got, err := r.Refund(context.Background(), "ord-1")
		if err != nil || got.Status != payment.Refunded {
			t.Fatalf("got %+v, %v; want REFUNDED", got, err)
		}
		if n := fake.refunds.Load(); n != 1 {
			t.Errorf("got %d refund calls, want 1", n)
		}
		wantCharged(t, p.sim, 1, 0, 1)
	})

	t.Run("unknown outcome: Unavailable, and the repeat looks up before refunding", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", nil)
		var down atomic.Bool
		down.Store(true)
		fake := &fakeProvider{next: p.client,
			refund: func(ctx context.Context, key, chargeID string) (payment.Refund, error) {
				if down.Load() {
					return payment.Refund{}, errNoAnswer // lost on the way
				}
				return p.client.Refund(ctx, key, chargeID)
			},
			findRefund: func(ctx context.Context, key string) (payment.Refund, error) {
				if down.Load() {
					return payment.Refund{}, errNoAnswer
				}
				return p.client.FindRefund(ctx, key)
			}}
		r := newReplica(t, nil, fake)
		charge(t, r.Service, "ord-1", eur, "tok_visa")
		_, err := r.Refund(context.Background(), "ord-1")
		wantCode(t, err, apperr.Unavailable)
		wantStatus(t, r.store, "ord-1", payment.RefundPending)
		// A charge during the refund is refused: the money is on its way back.
		_, err = r.Charge(context.Background(), "ord-1", eur, "tok_visa")
		wantCode(t, err, apperr.FailedPrecondition, payment.ReasonPaymentRefunded)

		down.Store(false)
		before := fake.refundFinds.Load()
		got, err := r.Refund(context.Background(), "ord-1")
		if err != nil || got.Status != payment.Refunded {
			t.Fatalf("repeat: got %+v, %v; want REFUNDED", got, err)
		}
		if n := fake.refundFinds.Load() - before; n != 1 {
			t.Errorf("repeat made %d lookups before refunding, want 1", n)
		}
		wantCharged(t, p.sim, 1, 0, 1)
	})

	t.Run("a refund left pending by a crash is found, not repeated", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", nil)
		fake := &fakeProvider{next: p.client}
		r := newReplica(t, nil, fake)
		paid := charge(t, r.Service, "ord-1", eur, "tok_visa")
		// The crashed replica recorded the attempt and reached the provider.
		q := paid
		q.Status, q.RefundKey = payment.RefundPending, payment.RefundKey("ord-1")
		if err := r.store.Update(context.Background(), q, payment.Succeeded); err != nil {
			t.Fatal(err)
		}
		if _, err := p.client.Refund(context.Background(), q.RefundKey, paid.ProviderChargeID); err != nil {
			t.Fatal(err)
		}
		got, err := r.Refund(context.Background(), "ord-1")
		if err != nil || got.Status != payment.Refunded || got.ProviderRefundID == "" {
			t.Fatalf("got %+v, %v; want REFUNDED with the refund found", got, err)
		}
		if n := fake.refunds.Load(); n != 0 {
			t.Errorf("got %d refund calls, want 0", n)
		}
		wantCharged(t, p.sim, 1, 0, 1)
	})

	t.Run("refused by the provider: FailedPrecondition, the money still taken", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", nil)
		r := newReplica(t, nil, &fakeProvider{next: p.client,
			refund: func(context.Context, string, string) (payment.Refund, error) {
				return payment.Refund{}, &payment.RejectedError{Status: 404, Reason: "no succeeded charge"}
			}})
		charge(t, r.Service, "ord-1", eur, "tok_visa")
		_, err := r.Refund(context.Background(), "ord-1")
		wantCode(t, err, apperr.FailedPrecondition, payment.ReasonRefundFailed)
		if rec := wantStatus(t, r.store, "ord-1", payment.Succeeded); rec.FailureReason != "no succeeded charge" {
			t.Errorf("got failure reason %q, want the provider's", rec.FailureReason)
		}
	})

	t.Run("a pending charge is resolved first, then refunded", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", nil)
		r := newReplica(t, nil, &fakeProvider{next: p.client,
			charge: func(ctx context.Context, key string, amount payment.Money, token string) (payment.Charge, error) {
				_, _ = p.client.Charge(ctx, key, amount, token)
				return payment.Charge{}, errNoAnswer
			},
			findCharge: func(context.Context, string) (payment.Charge, error) { return payment.Charge{}, errNoAnswer },
		})
		_, err := r.Charge(context.Background(), "ord-1", eur, "tok_visa")
		wantCode(t, err, apperr.Unavailable)
		// The order gives up and compensates; the provider answers again.
		again := newReplica(t, r.store, p.client)
		got, err := again.Refund(context.Background(), "ord-1")
		if err != nil || got.Status != payment.Refunded {
			t.Fatalf("got %+v, %v; want the found charge refunded", got, err)
		}
		wantCharged(t, p.sim, 1, 0, 1)
	})

	t.Run("a pending charge the provider never made is voided", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", nil)
		fake := &fakeProvider{next: p.client,
			charge: func(context.Context, string, payment.Money, string) (payment.Charge, error) {
				return payment.Charge{}, errNoAnswer
			}}
		r := newReplica(t, nil, fake)
		_, err := r.Charge(context.Background(), "ord-1", eur, "tok_visa")
		wantCode(t, err, apperr.Unavailable)
		// Refunded by a replica whose clock says the attempt is older than
		// any Charge call can be: nothing can be on its way any more.
		later := newReplica(t, r.store, fake, payment.WithClock(func() time.Time { return time.Now().Add(api.ChargeBudget + time.Second) }))
		_, err = later.Refund(context.Background(), "ord-1")
		wantCode(t, err, apperr.FailedPrecondition, payment.ReasonNothingToRefund)
		wantStatus(t, r.store, "ord-1", payment.Failed)
		// A late repeat of the charge must not take money now.
		fake.charge = nil
		_, err = r.Charge(context.Background(), "ord-1", eur, "tok_visa")
		wantCode(t, err, apperr.FailedPrecondition, payment.ReasonPaymentFailed)
		wantCharged(t, p.sim, 0, 0, 0)
	})

	t.Run("a pending charge that may still be on its way is not voided", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", nil)
		// The charge reaches the provider only after the refund has looked
		// for it: the call was in flight, slow, on another replica.
		arrive := make(chan struct{})
		landed := make(chan error, 1)
		slow := &fakeProvider{next: p.client,
			charge: func(ctx context.Context, key string, amount payment.Money, token string) (payment.Charge, error) {
				<-arrive
				ch, err := p.client.Charge(ctx, key, amount, token)
				return ch, err
			}}
		r := newReplica(t, nil, slow)
		go func() {
			_, err := r.Charge(context.Background(), "ord-1", eur, "tok_visa")
			landed <- err
		}()
		waitForStatus(t, r.store, "ord-1", payment.Pending)
		_, err := newReplica(t, r.store, p.client).Refund(context.Background(), "ord-1")
		wantCode(t, err, apperr.Unavailable)
		close(arrive)
		if err := <-landed; err != nil {
			t.Fatalf("the charge in flight: %v", err)
		}
		// The money taken is on record, so a repeat of the refund gives it back.
		wantStatus(t, r.store, "ord-1", payment.Succeeded)
		if got, err := r.Refund(context.Background(), "ord-1"); err != nil || got.Status != payment.Refunded {
			t.Fatalf("refund after the charge landed: %+v, %v; want REFUNDED", got, err)
		}
		wantCharged(t, p.sim, 1, 0, 1)
	})

	t.Run("declined payment", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", nil)
		r := newReplica(t, nil, p.client)
		charge(t, r.Service, "ord-1", eur, paysim.DeclineToken)
		_, err := r.Refund(context.Background(), "ord-1")
		wantCode(t, err, apperr.FailedPrecondition, payment.ReasonNothingToRefund)
		wantCharged(t, p.sim, 0, 1, 0)
	})

	t.Run("never charged", func(t *testing.T) {
		t.Parallel()
		_, err := newReplica(t, nil, &fakeProvider{}).Refund(context.Background(), "ord-1")
		wantCode(t, err, apperr.NotFound)
	})

	t.Run("empty order id", func(t *testing.T) {
		t.Parallel()
		_, err := newReplica(t, nil, &fakeProvider{}).Refund(context.Background(), "")
		wantCode(t, err, apperr.Invalid)
	})
}

func TestService_Get(t *testing.T) {
	t.Parallel()
	p := newPSP(t, "key", nil)
	r := newReplica(t, nil, p.client)
	paid := charge(t, r.Service, "ord-1", eur, "tok_visa")
	if got, err := r.Get(context.Background(), "ord-1"); err != nil || got != paid {
		t.Errorf("got %+v, %v; want %+v", got, err, paid)
	}
	_, err := r.Get(context.Background(), "ord-2")
	wantCode(t, err, apperr.NotFound)
	_, err = r.Get(context.Background(), "")
	wantCode(t, err, apperr.Invalid)
}
