package payment_test

// The provider misbehaving on purpose (paysim's faults), against the real
// pieces: Postgres store, pspclient, and the HTTP client with the retries
// and circuit breaker cmd/payment configures.

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
	"github.com/shopmesh/shopmesh/pkg/platform/postgres"
	"github.com/shopmesh/shopmesh/pkg/platform/postgres/pgtest"

	"github.com/shopmesh/shopmesh/payment/internal/payment"
	pgstore "github.com/shopmesh/shopmesh/payment/internal/postgres"
	"github.com/shopmesh/shopmesh/paysim"
)

// TestMain removes the Postgres container after the tests, then fails the
// package if a test left a goroutine behind (a pooled connection, a hung
// handler), the Docker client's own idle connections aside.
// pgtest.Main also removes the Postgres container and checks for leaked
// goroutines.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// pspTimeout is the provider client's total timeout in these tests: short,
// so a hang costs little, but long enough for loopback TLS.
const pspTimeout = 500 * time.Millisecond

// breakerFailures failed attempts, and no success, open the breaker in
// these tests.
const breakerFailures = 4

// guarded configures the provider client as cmd/payment does, with
// test-sized numbers.
func guarded(o *httpclient.Options) {
	o.Timeout = pspTimeout
	o.Retry = &httpclient.RetryOptions{MaxAttempts: 3, Backoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}
	o.Breaker = &httpclient.BreakerOptions{FailureRatio: 1, MinAttempts: breakerFailures, Window: time.Minute, OpenTimeout: 300 * time.Millisecond}
}

// pgDSN returns the DSN of a fresh database; the first pgStore on it
// applies the migrations.
func pgDSN(t *testing.T) string {
	t.Helper()
	return pgtest.New(t)
}

// pgStore returns a Store on its own pool over dsn: one replica's view of
// the shared database.
func pgStore(t *testing.T, dsn string) payment.Store {
	t.Helper()
	pool, err := postgres.Open(t.Context(), postgres.Config{DSN: dsn}, pgstore.Migrations(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(pool.Close)
	s, err := pgstore.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestService_ProviderFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("provider hangs past the timeout, then a retry with the same order charges once", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", []paysim.Option{paysim.WithFaults(paysim.Faults{HangRate: 1})}, guarded)
		r := newReplica(t, pgStore(t, pgDSN(t)), p.client)

		start := time.Now()
		_, err := r.Charge(ctx, "ord-1", eur, "tok_visa")
		wantCode(t, err, apperr.Unavailable)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want the client's timeout as the cause", err)
		}
		if elapsed := time.Since(start); elapsed > 4*pspTimeout {
			t.Errorf("Charge took %v, want the charge and the lookup to time out within %v each", elapsed, pspTimeout)
		}
		wantStatus(t, r.store, "ord-1", payment.Pending)

		if err := p.sim.SetFaults(paysim.Faults{}); err != nil {
			t.Fatal(err)
		}
		got := charge(t, r.Service, "ord-1", eur, "tok_visa")
		if got.Status != payment.Succeeded {
			t.Errorf("retry got %s, want SUCCEEDED", got.Status)
		}
		wantStatus(t, r.store, "ord-1", payment.Succeeded)
		if st := p.sim.Stats(); st.Charges != 1 || st.Hangs < 2 {
			t.Errorf("got stats %+v, want 1 charge after the hangs", st)
		}
	})

	t.Run("answer dropped after charging: the charge is found by key, one charge", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", []paysim.Option{paysim.WithFaults(paysim.Faults{DropRate: 1})}, guarded)
		r := newReplica(t, pgStore(t, pgDSN(t)), p.client)
		got := charge(t, r.Service, "ord-1", eur, "tok_visa")
		if got.Status != payment.Succeeded || got.ProviderChargeID == "" {
			t.Errorf("got %+v, want SUCCEEDED with the charge found by key", got)
		}
		if again := charge(t, r.Service, "ord-1", eur, "tok_visa"); again != got {
			t.Errorf("retry got %+v, want %+v", again, got)
		}
		if st := p.sim.Stats(); st.Charges != 1 || st.Drops == 0 {
			t.Errorf("got stats %+v, want answers dropped and 1 charge", st)
		}
	})

	t.Run("crash after the charge was sent: the next attempt finds it", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", nil, guarded)
		dsn := pgDSN(t)
		// The crashed replica recorded the attempt and charged, then died
		// before recording the outcome.
		crashed := pgStore(t, dsn)
		now := time.Now().UTC().Truncate(time.Microsecond)
		if _, _, err := crashed.Create(ctx, payment.Payment{OrderID: "ord-1", Amount: eur, Status: payment.Pending,
			ChargeKey: payment.IdempotencyKey("ord-1"), CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if _, err := p.client.Charge(ctx, payment.IdempotencyKey("ord-1"), eur, "tok_visa"); err != nil {
			t.Fatal(err)
		}
		fake := &fakeProvider{next: p.client}
		r := newReplica(t, pgStore(t, dsn), fake)
		if got := charge(t, r.Service, "ord-1", eur, "tok_visa"); got.Status != payment.Succeeded {
			t.Errorf("got %s, want SUCCEEDED", got.Status)
		}
		if n := fake.charges.Load(); n != 0 {
			t.Errorf("got %d charge calls, want 0: the charge existed", n)
		}
		wantCharged(t, p.sim, 1, 0, 0)
	})

	t.Run("decline: DECLINED, nothing charged", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", nil, guarded)
		r := newReplica(t, pgStore(t, pgDSN(t)), p.client)
		got := charge(t, r.Service, "ord-1", eur, paysim.DeclineToken)
		if got.Status != payment.Declined || got.DeclineReason == "" {
			t.Errorf("got %+v, want DECLINED with a reason", got)
		}
		wantStatus(t, r.store, "ord-1", payment.Declined)
		wantCharged(t, p.sim, 0, 1, 0)
	})

	t.Run("refused request: FAILED, FailedPrecondition, nothing charged", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", nil, guarded)
		r := newReplica(t, pgStore(t, pgDSN(t)), p.client)
		_, err := r.Charge(ctx, "ord-1", eur, paysim.InvalidToken)
		wantCode(t, err, apperr.FailedPrecondition, payment.ReasonPaymentFailed)
		wantStatus(t, r.store, "ord-1", payment.Failed)
		wantCharged(t, p.sim, 0, 0, 0)
	})

	t.Run("error rate 100%: the breaker opens and later calls fail fast", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", []paysim.Option{paysim.WithFaults(paysim.Faults{ErrorRate: 1})}, guarded)
		r := newReplica(t, pgStore(t, pgDSN(t)), p.client)

		// The charge (3 attempts) and the lookup's first attempt fail: the
		// breaker opens after breakerFailures and stops the lookup's retries.
		_, err := r.Charge(ctx, "ord-1", eur, "tok_visa")
		wantCode(t, err, apperr.Unavailable)
		if got := p.sim.Stats().Requests; got != breakerFailures {
			t.Errorf("paysim got %d requests, want %d before the breaker opened", got, breakerFailures)
		}

		start := time.Now()
		for i := range 5 {
			_, err := r.Charge(ctx, "ord-1", eur, "tok_visa")
			wantCode(t, err, apperr.Unavailable)
			if !errors.Is(err, httpclient.ErrCircuitOpen) || !errors.Is(err, payment.ErrProviderDown) {
				t.Errorf("call %d: got %v, want it refused by the open circuit", i+1, err)
			}
		}
		// Each call is two round trips to Postgres and none to paysim.
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Errorf("5 calls took %v with the circuit open, want them fast", elapsed)
		}
		if got := p.sim.Stats().Requests; got != breakerFailures {
			t.Errorf("paysim got %d requests, want still %d: an open circuit sends nothing", got, breakerFailures)
		}
		wantStatus(t, r.store, "ord-1", payment.Pending)

		// The provider recovers; after the open period a trial gets through.
		if err := p.sim.SetFaults(paysim.Faults{}); err != nil {
			t.Fatal(err)
		}
		var got payment.Payment
		deadline := time.Now().Add(3 * time.Second)
		for {
			got, err = r.Charge(ctx, "ord-1", eur, "tok_visa")
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil || got.Status != payment.Succeeded {
			t.Fatalf("after recovery: got %+v, %v; want SUCCEEDED", got, err)
		}
		wantCharged(t, p.sim, 1, 0, 0)
	})

	t.Run("refund twice refunds once", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", nil, guarded)
		r := newReplica(t, pgStore(t, pgDSN(t)), p.client)
		charge(t, r.Service, "ord-1", eur, "tok_visa")
		for i := range 2 {
			got, err := r.Refund(ctx, "ord-1")
			if err != nil || got.Status != payment.Refunded {
				t.Fatalf("Refund #%d: got %+v, %v; want REFUNDED", i+1, got, err)
			}
		}
		wantStatus(t, r.store, "ord-1", payment.Refunded)
		wantCharged(t, p.sim, 1, 0, 1)
	})

	t.Run("refund answer dropped: found by key, refunded once", func(t *testing.T) {
		t.Parallel()
		p := newPSP(t, "key", nil, guarded)
		r := newReplica(t, pgStore(t, pgDSN(t)), p.client)
		charge(t, r.Service, "ord-1", eur, "tok_visa")
		if err := p.sim.SetFaults(paysim.Faults{DropRate: 1}); err != nil {
			t.Fatal(err)
		}
		got, err := r.Refund(ctx, "ord-1")
		if err != nil || got.Status != payment.Refunded || got.ProviderRefundID == "" {
			t.Fatalf("got %+v, %v; want REFUNDED with the refund found by key", got, err)
		}
		if st := p.sim.Stats(); st.Refunds != 1 || st.Drops == 0 {
			t.Errorf("got stats %+v, want answers dropped and 1 refund", st)
		}
	})

	t.Run("two replicas sharing the database charge one order concurrently: one charge", func(t *testing.T) {
		t.Parallel()
		// Latency keeps the attempts in flight together, so replicas meet
		// each other's PENDING rows and charge with the same key.
		p := newPSP(t, "key", []paysim.Option{paysim.WithFaults(paysim.Faults{Latency: paysim.Duration(30 * time.Millisecond)})}, guarded)
		dsn := pgDSN(t)
		replicas := []replica{newReplica(t, pgStore(t, dsn), p.client), newReplica(t, pgStore(t, dsn), p.client)}
		const n = 8
		got := make([]payment.Payment, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				got[i], errs[i] = replicas[i%2].Charge(ctx, "ord-1", eur, "tok_visa")
			})
		}
		close(start)
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("Charge #%d (replica %d): %v", i, i%2, errs[i])
			}
			if got[i].Status != payment.Succeeded || got[i].ProviderChargeID != got[0].ProviderChargeID {
				t.Errorf("Charge #%d got %s %q, want SUCCEEDED %q", i, got[i].Status, got[i].ProviderChargeID, got[0].ProviderChargeID)
			}
		}
		wantCharged(t, p.sim, 1, 0, 0)
		if st := p.sim.Stats(); st.Requests < 2 {
			t.Errorf("paysim got %d requests, want the replicas to have met at the provider", st.Requests)
		}
		for i, r := range replicas {
			if rec := wantStatus(t, r.store, "ord-1", payment.Succeeded); rec.ProviderChargeID != got[0].ProviderChargeID {
				t.Errorf("replica %d reads charge %q, want %q", i, rec.ProviderChargeID, got[0].ProviderChargeID)
			}
		}
	})
}
