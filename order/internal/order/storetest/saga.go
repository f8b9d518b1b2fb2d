package storetest

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/order/internal/order"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
	"github.com/shopmesh/shopmesh/pkg/platform/backoff"
	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"
)

// request returns a valid PlaceOrder request of customer c-1.
func request(key, token string) order.PlaceRequest {
	return order.PlaceRequest{
		CustomerID: "c-1", IdempotencyKey: key, PaymentToken: token,
		Items: []order.Item{{ProductID: "p-1", Quantity: 2}},
	}
}

// waitFinal polls the store until order id is no longer under way.
func waitFinal(t *testing.T, s order.Store, id string) order.Order {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		o, err := s.Get(t.Context(), id)
		if err != nil {
			t.Fatalf("Get(%s): %v", id, err)
		}
		if !o.Status.InFlight() {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s still %s after 15s; history %v", id, o.Status, steps(o))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func steps(o order.Order) []string {
	out := make([]string, len(o.History))
	for i, e := range o.History {
		out[i] = e.Step
	}
	return out
}

// wantEachStepOnce fails unless every step of o's history is recorded once:
// a resumed saga continues, it does not repeat what is recorded.
func wantEachStepOnce(t *testing.T, o order.Order) {
	t.Helper()
	seen := map[string]bool{}
	for _, s := range steps(o) {
		if seen[s] {
			t.Errorf("order %s: step %q recorded twice in %v", o.ID, s, steps(o))
		}
		seen[s] = true
	}
}

// recoverWith runs a recovery loop on p until order id is final, then
// stops the loop, and returns the order.
func recoverWith(t *testing.T, p *process, s order.Store, id string) order.Order {
	t.Helper()
	r := startRecovery(t, p, 10*time.Millisecond)
	o := waitFinal(t, s, id)
	if err := r.Close(t.Context()); err != nil {
		t.Errorf("Close: %v", err)
	}
	return o
}

// startRecovery runs p's recovery loop as the service does.
func startRecovery(t *testing.T, p *process, interval time.Duration) *lifecycle.Periodic {
	t.Helper()
	r, err := lifecycle.Every(t.Context(), "order recovery", interval, slog.New(slog.DiscardHandler), p.svc.RecoveryPass)
	if err != nil {
		t.Fatalf("lifecycle.Every: %v", err)
	}
	return r
}

// RunSaga runs the order saga over stores from newStore through what
// DESIGN.md's order flow must survive: a process dying after each step,
// recovery by another process, replicas recovering at once, duplicate
// requests, and a cancellation cut in half. Peers are fakes that behave
// like inventory and payment (idempotent by order id) and count calls.
func RunSaga(t *testing.T, newStore NewStore) {
	t.Run("crash and recovery", func(t *testing.T) { t.Parallel(); testCrashPoints(t, newStore) })
	t.Run("recovery leaves held and fresh orders alone", func(t *testing.T) { t.Parallel(); testRecoveryWaits(t, newStore) })
	t.Run("a repeat of PlaceOrder respects the claim", func(t *testing.T) { t.Parallel(); testRepeatRespectsClaim(t, newStore) })
	t.Run("two replicas recover each order once", func(t *testing.T) { t.Parallel(); testReplicas(t, newStore) })
	t.Run("duplicate PlaceOrder", func(t *testing.T) { t.Parallel(); testDuplicates(t, newStore) })
	t.Run("CancelOrder crash between refund and restock", func(t *testing.T) { t.Parallel(); testCancelCrash(t, newStore) })
	t.Run("ListOrders with an unknown page token", func(t *testing.T) {
		t.Parallel()
		p := newWorld(t).newProcess(t, newStore(t))
		_, _, err := p.svc.ListOrders(t.Context(), "c-1", 10, "ord_nope")
		if apperr.CodeOf(err) != apperr.Invalid {
			t.Errorf("got %v, want Invalid", err)
		}
	})
}

func testCrashPoints(t *testing.T, newStore NewStore) {
	tests := []struct {
		name  string
		token string
		// crash makes the first process die at the crash point.
		crash func(w *world, p *process)
		// meanwhile happens between the crash and the recovery.
		meanwhile func(w *world, orderID string)
		want      order.Status
		reason    string
		// Calls the peers got, from both processes.
		reserves, charges, commits, releases, refunds int
	}{
		{
			name: "after create, before reserve",
			crash: func(w *world, p *process) {
				p.inv.reserve = func(context.Context, string, []order.Item) (order.Reservation, error) {
					p.crash()
					return order.Reservation{}, errCrashed
				}
			},
			want: order.Confirmed, reserves: 1, charges: 1, commits: 1,
		},
		{
			name: "after reserve, before it is recorded",
			crash: func(w *world, p *process) {
				p.inv.reserve = func(ctx context.Context, id string, items []order.Item) (order.Reservation, error) {
					res, err := w.reserve(ctx, id, items)
					p.crash()
					return res, err
				}
			},
			want: order.Confirmed, reserves: 2, charges: 1, commits: 1,
		},
		{
			name: "after reserve, before charge",
			crash: func(w *world, p *process) {
				p.pay.charge = func(context.Context, string, order.Money, string) (order.ChargeResult, error) {
					p.crash()
					return order.ChargeResult{}, errCrashed
				}
			},
			// The resumed run checks its reservation before it charges.
			want: order.Confirmed, reserves: 2, charges: 1, commits: 1,
		},
		{
			name: "after charge, before it is recorded",
			crash: func(w *world, p *process) {
				p.pay.charge = func(ctx context.Context, id string, amount order.Money, token string) (order.ChargeResult, error) {
					res, err := w.charge(ctx, id, amount, token)
					p.crash()
					return res, err
				}
			},
			// Charge is asked again with the recorded amount and answers
			// from its record: one payment.
			want: order.Confirmed, reserves: 2, charges: 2, commits: 1,
		},
		{
			name: "between charge and commit",
			crash: func(w *world, p *process) {
				p.inv.commit = func(context.Context, string) error {
					p.crash()
					return errCrashed
				}
			},
			want: order.Confirmed, reserves: 1, charges: 1, commits: 1,
		},
		{
			name: "after commit, before it is recorded",
			crash: func(w *world, p *process) {
				p.inv.commit = func(ctx context.Context, id string) error {
					err := w.commit(ctx, id)
					p.crash()
					return err
				}
			},
			want: order.Confirmed, reserves: 1, charges: 1, commits: 2,
		},
		{
			name:  "before charge, and the payment is declined",
			token: declineToken,
			crash: func(w *world, p *process) {
				p.pay.charge = func(context.Context, string, order.Money, string) (order.ChargeResult, error) {
					p.crash()
					return order.ChargeResult{}, errCrashed
				}
			},
			want: order.PaymentDeclined, reason: order.ReasonPaymentDeclined, reserves: 2, charges: 1, releases: 1,
		},
		{
			name:  "after a decline, before release",
			token: declineToken,
			crash: func(w *world, p *process) {
				p.inv.release = func(context.Context, string) error {
					p.crash()
					return errCrashed
				}
			},
			want: order.PaymentDeclined, reason: order.ReasonPaymentDeclined, reserves: 2, charges: 2, releases: 1,
		},
		{
			name: "between charge and commit, and the reservation expires",
			crash: func(w *world, p *process) {
				p.inv.commit = func(context.Context, string) error {
					p.crash()
					return errCrashed
				}
			},
			meanwhile: func(w *world, id string) { w.expire(id) },
			// The stock may be sold to someone else: refund and reject.
			want: order.Rejected, reason: order.ReasonReservationExpired,
			reserves: 1, charges: 1, commits: 1, refunds: 1, releases: 1,
		},
		{
			name: "before charge, and the reservation expires",
			crash: func(w *world, p *process) {
				p.pay.charge = func(context.Context, string, order.Money, string) (order.ChargeResult, error) {
					p.crash()
					return order.ChargeResult{}, errCrashed
				}
			},
			meanwhile: func(w *world, id string) { w.expire(id) },
			// Finding: the resumed run charged for stock that was gone, then
			// refunded. It checks the reservation first now: no charge, and a
			// refund call in case the dead run's charge got through (none did).
			want: order.Rejected, reason: order.ReasonReservationExpired,
			reserves: 2, refunds: 1, releases: 1,
		},
		{
			name:  "the provider refuses the payment details",
			token: invalidToken,
			crash: func(w *world, p *process) {
				p.inv.release = func(context.Context, string) error {
					p.crash()
					return errCrashed
				}
			},
			// Final at once: the stock goes back, nothing charged, and a
			// resumed run ends it rather than charging again and again.
			want: order.PaymentFailed, reason: order.ReasonPaymentFailed, reserves: 2, charges: 2, releases: 1,
		},
		{
			name: "after reserve, before it is recorded, and the reservation expires",
			crash: func(w *world, p *process) {
				p.inv.reserve = func(ctx context.Context, id string, items []order.Item) (order.Reservation, error) {
					res, err := w.reserve(ctx, id, items)
					p.crash()
					return res, err
				}
			},
			meanwhile: func(w *world, id string) { w.expire(id) },
			// Nothing was charged: the charge comes after the recorded reservation.
			want: order.Rejected, reason: order.ReasonReservationExpired, reserves: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			store := newStore(t)
			dying := w.newProcess(t, store)
			tt.crash(w, dying)
			token := tt.token
			if token == "" {
				token = "tok_visa"
			}
			// The dying process's answer does not matter: a dead process
			// sends none.
			o, _, _ := dying.svc.Place(t.Context(), request("k-1", token))
			if o.ID == "" {
				t.Fatal("PlaceOrder of the dying process returned no order id")
			}
			if got := mustGet(t, store, o.ID); got.Status != order.Pending {
				t.Fatalf("after the crash the order is %s, want PENDING", got.Status)
			}
			if tt.meanwhile != nil {
				tt.meanwhile(w, o.ID)
			}

			// A new process, started after the dead one's claim ran out.
			got := recoverWith(t, w.newProcess(t, store, order.WithClock(later)), store, o.ID)
			if got.Status != tt.want || got.Reason != tt.reason {
				t.Errorf("after recovery: got %s (reason %q), want %s (reason %q); history %v",
					got.Status, got.Reason, tt.want, tt.reason, steps(got))
			}
			if !got.ClaimedUntil.IsZero() {
				t.Errorf("final order still claimed until %v", got.ClaimedUntil)
			}
			wantEachStepOnce(t, got)
			for method, want := range map[string]int{
				"reserve": tt.reserves, "charge": tt.charges, "commit": tt.commits,
				"release": tt.releases, "refund": tt.refunds,
			} {
				if n := w.callCount(method, o.ID); n != want {
					t.Errorf("got %d %s calls, want %d", n, method, want)
				}
			}
			// DESIGN.md's invariants: a confirmed order is paid once and its
			// stock sold; any other has its stock and its money back.
			charged, state := w.charged(o.ID), w.reservationState(o.ID)
			if tt.want == order.Confirmed {
				if !charged || state != committed {
					t.Errorf("confirmed order: charged=%v, reservation %q; want charged, committed", charged, state)
				}
				if p, _ := w.payment(o.ID); p.amount != got.Total {
					t.Errorf("charged %v, want the order's total %v", p.amount, got.Total)
				}
			} else if charged || state != released {
				t.Errorf("%s order: charged=%v, reservation %q; want no money taken, released", got.Status, charged, state)
			}
		})
	}
}

func testRecoveryWaits(t *testing.T, newStore NewStore) {
	w := newWorld(t)
	store := newStore(t)

	// One order held by a run that died a moment ago...
	dying := w.newProcess(t, store)
	dying.pay.charge = func(context.Context, string, order.Money, string) (order.ChargeResult, error) {
		dying.crash()
		return order.ChargeResult{}, errCrashed
	}
	held, _, _ := dying.svc.Place(t.Context(), request("k-1", "tok_visa"))
	// ...and one whose charge failed a moment ago, given up by a process
	// that stopped: not held, but recent.
	failing := w.newProcess(t, store)
	failing.pay.charge = func(context.Context, string, order.Money, string) (order.ChargeResult, error) {
		return order.ChargeResult{}, apperr.New(apperr.Unavailable, "payment down")
	}
	recent, _, err := failing.svc.Place(within(t, time.Second), request("k-2", "tok_visa"))
	if err != nil || recent.Status != order.Pending {
		t.Fatalf("PlaceOrder with payment down: got %s, %v; want PENDING", recent.Status, err)
	}
	failing.stop(t)
	if got := mustGet(t, store, recent.ID); !got.ClaimedUntil.IsZero() {
		t.Errorf("after a failed step the order is still claimed until %v, want the claim given up", got.ClaimedUntil)
	}

	now := w.newProcess(t, store)
	if n, err := now.svc.RecoverStale(t.Context(), 10); n != 0 || err != nil {
		t.Errorf("RecoverStale within the grace period: got %d orders, %v; want none", n, err)
	}
	for _, id := range []string{held.ID, recent.ID} {
		if got := mustGet(t, store, id); got.Status != order.Pending {
			t.Errorf("order %s is %s, want it left PENDING", id, got.Status)
		}
	}

	n, err := w.newProcess(t, store, order.WithClock(later)).svc.RecoverStale(t.Context(), 10)
	if n != 2 || err != nil {
		t.Errorf("RecoverStale after the grace period: got %d orders, %v; want 2", n, err)
	}
	for _, id := range []string{held.ID, recent.ID} {
		if got := mustGet(t, store, id); got.Status != order.Confirmed {
			t.Errorf("order %s is %s after recovery, want CONFIRMED", id, got.Status)
		}
	}
}

func testRepeatRespectsClaim(t *testing.T, newStore NewStore) {
	w := newWorld(t)
	store := newStore(t)
	dying := w.newProcess(t, store)
	dying.pay.charge = func(context.Context, string, order.Money, string) (order.ChargeResult, error) {
		dying.crash()
		return order.ChargeResult{}, errCrashed
	}
	o, _, _ := dying.svc.Place(t.Context(), request("k-1", "tok_visa"))

	// While the dead run's claim lasts, a repeat gets the order as it is.
	again, _, err := w.newProcess(t, store).svc.Place(t.Context(), request("k-1", "tok_visa"))
	if err != nil || again.ID != o.ID || again.Status != order.Pending {
		t.Errorf("repeat while the order is held: got %s %s, %v; want %s PENDING", again.ID, again.Status, err, o.ID)
	}
	if n := w.callCount("charge", o.ID); n != 0 {
		t.Errorf("the repeat called Charge %d times, want 0", n)
	}

	// Once it ran out, a repeat takes the order over and finishes it.
	got, _, err := w.newProcess(t, store, order.WithClock(later)).svc.Place(t.Context(), request("k-1", "tok_visa"))
	if err != nil {
		t.Fatalf("repeat after the claim ran out: %v", err)
	}
	if got.ID != o.ID || got.Status != order.Confirmed {
		t.Errorf("repeat got order %s %s, want %s CONFIRMED", got.ID, got.Status, o.ID)
	}
	if n := w.callCount("charge", o.ID); n != 1 {
		t.Errorf("got %d Charge calls, want 1", n)
	}
}

func testReplicas(t *testing.T, newStore NewStore) {
	w := newWorld(t)
	store := newStore(t)
	const orders = 20

	// A process whose payment calls all failed left orders reserved and
	// PENDING.
	failing := w.newProcess(t, store)
	failing.pay.charge = func(context.Context, string, order.Money, string) (order.ChargeResult, error) {
		return order.ChargeResult{}, apperr.New(apperr.Unavailable, "payment down")
	}
	ids := make([]string, orders)
	var placed sync.WaitGroup
	for i := range orders {
		placed.Go(func() {
			o, err := placeAsClient(t, failing.svc, 2*time.Second, request(fmt.Sprintf("k-%d", i), "tok_visa"))
			if err != nil || o.Status != order.Pending {
				t.Errorf("PlaceOrder #%d with payment down: got %s, %v; want PENDING", i, o.Status, err)
			}
			ids[i] = o.ID
		})
	}
	placed.Wait()
	if t.Failed() {
		t.FailNow()
	}
	failing.stop(t)

	// Two replicas start later, each with its recovery loop; a slow
	// payment widens the window in which they could collide.
	var loops []*lifecycle.Periodic
	for range 2 {
		p := w.newProcess(t, store, order.WithClock(later))
		p.pay.charge = func(ctx context.Context, id string, amount order.Money, token string) (order.ChargeResult, error) {
			backoff.Sleep(ctx, 2*time.Millisecond) // a call cancelled meanwhile fails in charge
			return w.charge(ctx, id, amount, token)
		}
		loops = append(loops, startRecovery(t, p, 5*time.Millisecond))
	}
	for _, id := range ids {
		o := waitFinal(t, store, id)
		if o.Status != order.Confirmed {
			t.Errorf("order %s is %s, want CONFIRMED", id, o.Status)
		}
		wantEachStepOnce(t, o)
	}
	for _, r := range loops {
		if err := r.Close(t.Context()); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	for _, id := range ids {
		if n := w.callCount("charge", id); n != 1 {
			t.Errorf("order %s: the replicas called Charge %d times, want once", id, n)
		}
		if n := w.callCount("commit", id); n != 1 {
			t.Errorf("order %s: the replicas called Commit %d times, want once", id, n)
		}
	}
}

func testDuplicates(t *testing.T, newStore NewStore) {
	t.Run("sequential", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		p := w.newProcess(t, newStore(t))
		first, _, err := p.svc.Place(t.Context(), request("k-1", "tok_visa"))
		if err != nil {
			t.Fatalf("PlaceOrder: %v", err)
		}
		for i := range 3 {
			again, _, err := p.svc.Place(t.Context(), request("k-1", "tok_visa"))
			if err != nil || again.ID != first.ID || again.Status != order.Confirmed {
				t.Errorf("repeat #%d: got %s %s, %v; want %s CONFIRMED", i+1, again.ID, again.Status, err, first.ID)
			}
		}
		other := request("k-1", "tok_visa")
		other.Items[0].Quantity = 3
		if _, _, err := p.svc.Place(t.Context(), other); apperr.CodeOf(err) != apperr.Conflict {
			t.Errorf("the key with another body: got %v, want Conflict", err)
		}
		if n := w.callCount("charge", first.ID); n != 1 {
			t.Errorf("got %d Charge calls, want 1", n)
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		store := newStore(t)
		p := w.newProcess(t, store)
		const n = 20
		ids := make([]string, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				o, err := placeAsClient(t, p.svc, 10*time.Second, request("k-1", "tok_visa"))
				ids[i], errs[i] = o.ID, err
			})
		}
		close(start)
		wg.Wait()
		for i := range n {
			// A repeat that finds another request driving the order gets
			// the order as it is; an error is a bug.
			if errs[i] != nil {
				t.Errorf("PlaceOrder #%d: %v", i, errs[i])
			}
			if ids[i] != ids[0] {
				t.Errorf("PlaceOrder #%d got order %q, want %q", i, ids[i], ids[0])
			}
		}
		o := waitFinal(t, store, ids[0])
		if o.Status != order.Confirmed {
			t.Errorf("order is %s, want CONFIRMED", o.Status)
		}
		list, err := store.ListByCustomer(t.Context(), "c-1", "", 100)
		if err != nil || len(list) != 1 {
			t.Errorf("got %d orders stored (%v), want 1", len(list), err)
		}
		for method, want := range map[string]int{"reserve": 1, "charge": 1, "commit": 1} {
			if got := w.callCount(method, ids[0]); got != want {
				t.Errorf("got %d %s calls, want %d", got, method, want)
			}
		}
	})
}

func testCancelCrash(t *testing.T, newStore NewStore) {
	w := newWorld(t)
	store := newStore(t)
	dying := w.newProcess(t, store)
	o, _, err := dying.svc.Place(t.Context(), request("k-1", "tok_visa"))
	if err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	dying.inv.release = func(context.Context, string) error {
		dying.crash()
		return errCrashed
	}
	// The dying process's answer does not matter: a dead process sends none.
	_, _ = dying.svc.CancelOrder(t.Context(), o.ID)
	mid := mustGet(t, store, o.ID)
	if mid.Status != order.Cancelling || !mid.Reached(order.StepRefunded) {
		t.Fatalf("after the crash: got %s with history %v, want CANCELLING with the refund recorded", mid.Status, steps(mid))
	}

	// Recovery on a process started after the dead one's claim ran out
	// finishes the cancellation, as it finishes placements.
	got := recoverWith(t, w.newProcess(t, store, order.WithClock(later)), store, o.ID)
	if got.Status != order.Cancelled {
		t.Errorf("got %s, want CANCELLED", got.Status)
	}
	wantEachStepOnce(t, got)
	if n := w.callCount("refund", o.ID); n != 1 {
		t.Errorf("got %d refunds, want 1: the repeat continues after the recorded refund", n)
	}
	if w.charged(o.ID) || w.reservationState(o.ID) != released {
		t.Errorf("cancelled order: charged=%v, reservation %q; want refunded and released", w.charged(o.ID), w.reservationState(o.ID))
	}
}

// placeAsClient places req as a client does, each attempt within budget:
// an answer that the outcome is unknown (Timeout: with many placements at
// once on a loaded machine, the create may outlast RecordBudget) is
// repeated with the same key after a growing pause, which learns the
// outcome. It gives up after a minute.
func placeAsClient(t *testing.T, svc *order.Service, budget time.Duration, req order.PlaceRequest) (order.Order, error) {
	t.Helper()
	giveUp := time.Now().Add(time.Minute)
	pause := 20 * time.Millisecond
	for {
		o, _, err := svc.Place(within(t, budget), req)
		if apperr.CodeOf(err) != apperr.Timeout || time.Now().After(giveUp) {
			return o, err
		}
		time.Sleep(pause)
		pause = min(2*pause, time.Second)
	}
}
