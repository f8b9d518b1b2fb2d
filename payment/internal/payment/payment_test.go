package payment_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/shopmesh/shopmesh/payment/internal/memstore"
	"github.com/shopmesh/shopmesh/payment/internal/payment"
	"github.com/shopmesh/shopmesh/payment/internal/paysim"
	"github.com/shopmesh/shopmesh/payment/internal/pspclient"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
)

// TestMain fails the package if a test leaves a pooled connection behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeProvider is a payment.Provider whose methods are set per test.
type fakeProvider struct {
	charge func(ctx context.Context, idempotencyKey string, amount payment.Money, token string) (payment.Charge, error)
	refund func(ctx context.Context, idempotencyKey, chargeID string) error
}

func (f *fakeProvider) Charge(ctx context.Context, key string, amount payment.Money, token string) (payment.Charge, error) {
	return f.charge(ctx, key, amount, token)
}

func (f *fakeProvider) Refund(ctx context.Context, key, chargeID string) error {
	return f.refund(ctx, key, chargeID)
}

// counted wraps a provider and counts the calls that reach it.
func counted(p payment.Provider, charges, refunds *atomic.Int64) *fakeProvider {
	return &fakeProvider{
		charge: func(ctx context.Context, key string, amount payment.Money, token string) (payment.Charge, error) {
			charges.Add(1)
			return p.Charge(ctx, key, amount, token)
		},
		refund: func(ctx context.Context, key, chargeID string) error {
			refunds.Add(1)
			return p.Refund(ctx, key, chargeID)
		},
	}
}

// psp is the simulator over TLS and a real pspclient for it.
type psp struct {
	sim    *paysim.Server
	client *pspclient.Client
}

// newPSP starts paysim with API key "key" behind a TLS httptest server and
// returns a pspclient that sends apiKey, on a client from httpclient.New.
func newPSP(t *testing.T, apiKey string) psp {
	t.Helper()
	sim := paysim.New("key", slog.New(slog.DiscardHandler))
	srv := httptest.NewTLSServer(sim.Handler())
	t.Cleanup(srv.Close)
	hc, err := httpclient.New(httpclient.Options{
		Name:      "psp",
		TLSConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig,
	})
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

// newService returns a Service with a fresh in-memory store: each call is
// one replica.
func newService(t *testing.T, provider payment.Provider) *payment.Service {
	t.Helper()
	svc, err := payment.NewService(memstore.New(), provider)
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	return svc
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

// wantCode fails the test unless err carries the apperr code want.
func wantCode(t *testing.T, err error, want apperr.Code) {
	t.Helper()
	if got := apperr.CodeOf(err); got != want {
		t.Fatalf("got error %v (code %q), want code %q", err, got, want)
	}
}

// wantStats fails the test unless the simulator counted want.
func wantStats(t *testing.T, sim *paysim.Server, want paysim.Stats) {
	t.Helper()
	if got := sim.Stats(); got != want {
		t.Errorf("got provider stats %+v, want %+v", got, want)
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
		p := newPSP(t, "key")
		var charges, refunds atomic.Int64
		svc := newService(t, counted(p.client, &charges, &refunds))

		first := charge(t, svc, "ord-1", eur, "tok_visa")
		if first.Status != payment.Succeeded || first.ProviderChargeID == "" || first.Amount != eur || first.OrderID != "ord-1" {
			t.Errorf("got %+v, want a succeeded payment of %+v for ord-1 with a charge id", first, eur)
		}
		if first.CreatedAt.IsZero() {
			t.Error("got a zero CreatedAt")
		}
		wantStats(t, p.sim, paysim.Stats{Charges: 1})

		again := charge(t, svc, "ord-1", eur, "tok_visa")
		if again != first {
			t.Errorf("repeat got %+v, want %+v", again, first)
		}
		wantStats(t, p.sim, paysim.Stats{Charges: 1})
		if got := charges.Load(); got != 1 {
			t.Errorf("got %d provider calls, want 1 (the repeat is answered from the store)", got)
		}
	})

	t.Run("another replica without the record does not charge again", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key")
		a := charge(t, newService(t, p.client), "ord-1", eur, "tok_visa")
		b := charge(t, newService(t, p.client), "ord-1", eur, "tok_visa")
		if a.ProviderChargeID != b.ProviderChargeID {
			t.Errorf("replicas got charges %q and %q, want one", a.ProviderChargeID, b.ProviderChargeID)
		}
		wantStats(t, p.sim, paysim.Stats{Charges: 1})
	})

	t.Run("a lost answer retried charges once", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key")
		var lost atomic.Bool
		svc := newService(t, &fakeProvider{charge: func(ctx context.Context, key string, amount payment.Money, token string) (payment.Charge, error) {
			ch, err := p.client.Charge(ctx, key, amount, token)
			if err == nil && lost.CompareAndSwap(false, true) {
				return payment.Charge{}, errors.New("read: connection reset") // charged, but we never heard
			}
			return ch, err
		}})
		_, err := svc.Charge(context.Background(), "ord-1", eur, "tok_visa")
		wantCode(t, err, apperr.Unavailable)
		if _, err := svc.Get(context.Background(), "ord-1"); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("after an unknown outcome got %v, want nothing recorded (NotFound)", err)
		}
		got := charge(t, svc, "ord-1", eur, "tok_visa")
		if got.Status != payment.Succeeded {
			t.Errorf("retry got status %d, want Succeeded", got.Status)
		}
		wantStats(t, p.sim, paysim.Stats{Charges: 1})
	})

	t.Run("concurrent charges of one order charge once", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key")
		svc := newService(t, p.client)
		const n = 10
		ids := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				pay, err := svc.Charge(context.Background(), "ord-1", eur, "tok_visa")
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
		wantStats(t, p.sim, paysim.Stats{Charges: 1})
	})

	t.Run("declined", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key")
		svc := newService(t, p.client)
		got := charge(t, svc, "ord-1", eur, paysim.DeclineToken)
		if got.Status != payment.Declined || got.DeclineReason != "card_declined" {
			t.Errorf("got status %d reason %q, want Declined with card_declined", got.Status, got.DeclineReason)
		}
		wantStats(t, p.sim, paysim.Stats{Declines: 1})
		// The decline is recorded: a repeat neither asks again nor succeeds.
		if again := charge(t, svc, "ord-1", eur, paysim.DeclineToken); again.Status != payment.Declined {
			t.Errorf("repeat got status %d, want Declined", again.Status)
		}
		wantStats(t, p.sim, paysim.Stats{Declines: 1})
	})

	t.Run("wrong api key is an unknown outcome", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "wrong")
		svc := newService(t, p.client)
		_, err := svc.Charge(context.Background(), "ord-1", eur, "tok_visa")
		wantCode(t, err, apperr.Unavailable)
		if _, err := svc.Get(context.Background(), "ord-1"); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("got %v, want no payment recorded (NotFound)", err)
		}
		wantStats(t, p.sim, paysim.Stats{})
	})

	t.Run("another amount on repeat is a conflict", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key")
		svc := newService(t, p.client)
		charge(t, svc, "ord-1", eur, "tok_visa")
		_, err := svc.Charge(context.Background(), "ord-1", payment.Money{Currency: "EUR", Minor: eur.Minor + 1}, "tok_visa")
		wantCode(t, err, apperr.Conflict)
		_, err = svc.Charge(context.Background(), "ord-1", payment.Money{Currency: "USD", Minor: eur.Minor}, "tok_visa")
		wantCode(t, err, apperr.Conflict)
		wantStats(t, p.sim, paysim.Stats{Charges: 1})
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
			svc := newService(t, &fakeProvider{charge: func(context.Context, string, payment.Money, string) (payment.Charge, error) {
				t.Error("invalid charge reached the provider")
				return payment.Charge{}, nil
			}})
			_, err := svc.Charge(context.Background(), tt.orderID, tt.amount, "tok_visa")
			wantCode(t, err, apperr.Invalid)
		})
	}
}

func TestService_Refund(t *testing.T) {
	t.Parallel()

	t.Run("twice refunds once", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key")
		var charges, refunds atomic.Int64
		svc := newService(t, counted(p.client, &charges, &refunds))
		charge(t, svc, "ord-1", eur, "tok_visa")
		for i := range 2 {
			got, err := svc.Refund(context.Background(), "ord-1")
			if err != nil {
				t.Fatalf("Refund #%d: %v", i+1, err)
			}
			if got.Status != payment.Refunded {
				t.Errorf("Refund #%d: got status %d, want Refunded", i+1, got.Status)
			}
		}
		wantStats(t, p.sim, paysim.Stats{Charges: 1, Refunds: 1})
		if got := refunds.Load(); got != 1 {
			t.Errorf("got %d refund calls to the provider, want 1", got)
		}
		if got, err := svc.Get(context.Background(), "ord-1"); err != nil || got.Status != payment.Refunded {
			t.Errorf("got %+v, %v; want the payment recorded as Refunded", got, err)
		}
	})

	t.Run("declined payment", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key")
		svc := newService(t, p.client)
		charge(t, svc, "ord-1", eur, paysim.DeclineToken)
		_, err := svc.Refund(context.Background(), "ord-1")
		wantCode(t, err, apperr.FailedPrecondition)
		wantStats(t, p.sim, paysim.Stats{Declines: 1})
	})

	t.Run("never charged", func(t *testing.T) {
		t.Parallel()
		svc := newService(t, newPSP(t, "key").client)
		_, err := svc.Refund(context.Background(), "ord-1")
		wantCode(t, err, apperr.NotFound)
	})

	t.Run("empty order id", func(t *testing.T) {
		t.Parallel()
		svc := newService(t, &fakeProvider{})
		_, err := svc.Refund(context.Background(), "")
		wantCode(t, err, apperr.Invalid)
	})

	t.Run("provider failure keeps the payment refundable", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key")
		var fail atomic.Bool
		fail.Store(true)
		svc := newService(t, &fakeProvider{
			charge: p.client.Charge,
			refund: func(ctx context.Context, key, chargeID string) error {
				if fail.Load() {
					return errors.New("connection refused")
				}
				return p.client.Refund(ctx, key, chargeID)
			},
		})
		charge(t, svc, "ord-1", eur, "tok_visa")
		_, err := svc.Refund(context.Background(), "ord-1")
		wantCode(t, err, apperr.Unavailable)
		if got, _ := svc.Get(context.Background(), "ord-1"); got.Status != payment.Succeeded {
			t.Errorf("after a failed refund got status %d, want Succeeded", got.Status)
		}
		fail.Store(false)
		if _, err := svc.Refund(context.Background(), "ord-1"); err != nil {
			t.Fatalf("retry Refund: %v", err)
		}
		wantStats(t, p.sim, paysim.Stats{Charges: 1, Refunds: 1})
	})
}
