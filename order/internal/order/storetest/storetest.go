// Package storetest is the contract of order.Store as tests, run against
// every implementation (memstore and postgres) so they cannot drift apart:
// Run checks the store's own promises, RunSaga runs the order saga over the
// store through crashes, retries and competing replicas.
//
// Each test asks newStore for a store of its own; newStore must return an
// empty one.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/shopmesh/shopmesh/pkg/platform/apperr"

	"github.com/shopmesh/shopmesh/order/internal/order"
)

// NewStore returns a new, empty store for one test.
type NewStore func(t *testing.T) order.Store

// base is the time the contract's orders are made at; microsecond precision,
// as stores keep times.
var base = time.Date(2025, 3, 4, 5, 6, 7, 123456000, time.UTC)

// newOrder returns a valid pending order created at `at`.
func newOrder(id, customer, key string, at time.Time) order.Order {
	return order.Order{
		ID: id, CustomerID: customer, IdempotencyKey: key, RequestHash: "hash-" + key, PaymentToken: "tok_visa",
		TraceID:   "4bf92f3577b34da6a3ce929d0e0e4736",
		Status:    order.Pending,
		Items:     []order.Item{{ProductID: "p-1", Quantity: 2}, {ProductID: "p-2", Quantity: 1}},
		History:   []order.Event{{At: at, Step: order.StepCreated}},
		CreatedAt: at, UpdatedAt: at,
	}
}

// diff compares orders field by field; nil and empty slices are equal.
func diff(want, got any) string {
	return cmp.Diff(want, got, cmpopts.EquateEmpty())
}

func mustCreate(t *testing.T, s order.Store, o order.Order) order.Order {
	t.Helper()
	got, created, err := s.Create(t.Context(), o)
	if err != nil {
		t.Fatalf("Create(%s): %v", o.ID, err)
	}
	if !created {
		t.Fatalf("Create(%s): got created=false, want a new order", o.ID)
	}
	return got
}

func mustGet(t *testing.T, s order.Store, id string) order.Order {
	t.Helper()
	o, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return o
}

func mustUpdate(t *testing.T, s order.Store, o *order.Order) {
	t.Helper()
	if err := s.Update(t.Context(), o); err != nil {
		t.Fatalf("Update(%s): %v", o.ID, err)
	}
}

// Run runs the order.Store contract against stores from newStore.
func Run(t *testing.T, newStore NewStore) {
	t.Run("Create", func(t *testing.T) { t.Parallel(); testCreate(t, newStore) })
	t.Run("Get", func(t *testing.T) { t.Parallel(); testGet(t, newStore) })
	t.Run("Update", func(t *testing.T) { t.Parallel(); testUpdate(t, newStore) })
	t.Run("ListByCustomer", func(t *testing.T) { t.Parallel(); testList(t, newStore) })
	t.Run("ClaimStale", func(t *testing.T) { t.Parallel(); testClaimStale(t, newStore) })
	t.Run("transitions", func(t *testing.T) { t.Parallel(); testTransitions(t, newStore) })
	t.Run("ListByStatus", func(t *testing.T) { t.Parallel(); testListByStatus(t, newStore) })
	t.Run("ListUntold and MarkTold", func(t *testing.T) { t.Parallel(); testShippingTold(t, newStore) })
}

func testCreate(t *testing.T, newStore NewStore) {
	t.Run("new order is stored whole", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		o := newOrder("ord_1", "c-1", "k-1", base)
		o.ClaimedUntil = base.Add(30 * time.Second)
		got := mustCreate(t, s, o)
		if d := diff(o, got); d != "" {
			t.Errorf("Create returned another order (-want +got):\n%s", d)
		}
		if d := diff(o, mustGet(t, s, "ord_1")); d != "" {
			t.Errorf("Get returned another order than created (-want +got):\n%s", d)
		}
	})

	t.Run("same customer and key returns the first order", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		first := mustCreate(t, s, newOrder("ord_1", "c-1", "k-1", base))
		second := newOrder("ord_2", "c-1", "k-1", base.Add(time.Minute))
		second.RequestHash = "another body"
		got, created, err := s.Create(t.Context(), second)
		if err != nil {
			t.Fatalf("second Create: %v", err)
		}
		if created {
			t.Error("second Create with the key: got created=true, want false")
		}
		if d := diff(first, got); d != "" {
			t.Errorf("second Create did not return the first order (-want +got):\n%s", d)
		}
		if _, err := s.Get(t.Context(), "ord_2"); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("Get of the refused order: got %v, want NotFound", err)
		}
	})

	t.Run("another customer with the key gets its own order", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		mustCreate(t, s, newOrder("ord_1", "c-1", "k-1", base))
		mustCreate(t, s, newOrder("ord_2", "c-2", "k-1", base))
	})

	t.Run("concurrent creates with one key make one order", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const n = 20
		ids := make([]string, n)
		created := make([]bool, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				o, c, err := s.Create(context.WithoutCancel(t.Context()), newOrder(fmt.Sprintf("ord_%d", i), "c-1", "k-1", base))
				ids[i], created[i], errs[i] = o.ID, c, err
			})
		}
		close(start)
		wg.Wait()
		winners := 0
		for i := range n {
			if errs[i] != nil {
				t.Errorf("Create #%d: %v", i, errs[i])
				continue
			}
			if created[i] {
				winners++
			}
			if ids[i] != ids[0] {
				t.Errorf("Create #%d returned order %q, want %q like the others", i, ids[i], ids[0])
			}
		}
		if winners != 1 {
			t.Errorf("got %d creates reporting created=true, want 1", winners)
		}
		list, err := s.ListByCustomer(t.Context(), "c-1", "", 100)
		if err != nil {
			t.Fatalf("ListByCustomer: %v", err)
		}
		if len(list) != 1 {
			t.Errorf("got %d orders stored, want 1", len(list))
		}
	})
}

func testGet(t *testing.T, newStore NewStore) {
	t.Run("unknown order", func(t *testing.T) {
		t.Parallel()
		_, err := newStore(t).Get(t.Context(), "ord_nope")
		if apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("got %v, want NotFound", err)
		}
	})
}

func testUpdate(t *testing.T, newStore NewStore) {
	t.Run("stores every field and increments the version", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		o := mustCreate(t, s, newOrder("ord_1", "c-1", "k-1", base))
		o.ClaimedUntil = base.Add(time.Minute)
		o.Attempts, o.NextAttemptAt = 2, base.Add(90*time.Second)
		o.Lines = []order.Line{{ProductID: "p-1", Quantity: 2, UnitPrice: order.Money{Currency: "EUR", Minor: 250}}}
		o.Total = order.Money{Currency: "EUR", Minor: 500}
		o.History = append(o.History, order.Event{At: base.Add(time.Second), Step: order.StepReserved, Detail: "total 500 EUR"})
		o.UpdatedAt = base.Add(time.Second)
		mustUpdate(t, s, &o)
		if o.Version != 1 {
			t.Errorf("got version %d after one update, want 1", o.Version)
		}
		if d := diff(o, mustGet(t, s, "ord_1")); d != "" {
			t.Errorf("stored order differs (-want +got):\n%s", d)
		}

		// Lines are replaced, history grows, the claim is given up.
		o.Lines = []order.Line{
			{ProductID: "p-1", Quantity: 2, UnitPrice: order.Money{Currency: "EUR", Minor: 300}},
			{ProductID: "p-2", Quantity: 1, UnitPrice: order.Money{Currency: "EUR", Minor: 100}},
		}
		o.Total.Minor = 700
		o.Status, o.Reason = order.PaymentDeclined, order.ReasonPaymentDeclined
		o.ClaimedUntil = time.Time{}
		o.History = append(o.History, order.Event{At: base.Add(2 * time.Second), Step: order.StepDeclined, Detail: "card_declined"})
		o.UpdatedAt = base.Add(2 * time.Second)
		mustUpdate(t, s, &o)
		if o.Version != 2 {
			t.Errorf("got version %d after two updates, want 2", o.Version)
		}
		// Settled without a charge: the store forgot the token.
		o.PaymentToken = ""
		if d := diff(o, mustGet(t, s, "ord_1")); d != "" {
			t.Errorf("stored order differs after the second update (-want +got):\n%s", d)
		}
	})

	t.Run("fewer lines replace more", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		o := mustCreate(t, s, newOrder("ord_1", "c-1", "k-1", base))
		o.Lines = []order.Line{
			{ProductID: "p-1", Quantity: 2, UnitPrice: order.Money{Currency: "EUR", Minor: 250}},
			{ProductID: "p-2", Quantity: 1, UnitPrice: order.Money{Currency: "EUR", Minor: 100}},
		}
		mustUpdate(t, s, &o)
		o.Lines = o.Lines[1:]
		mustUpdate(t, s, &o)
		if d := diff(o, mustGet(t, s, "ord_1")); d != "" {
			t.Errorf("stored order differs (-want +got):\n%s", d)
		}
	})

	t.Run("the payment token is kept until it is spent", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		step := func(o *order.Order, step string, st order.Status) {
			o.Status = st
			o.History = append(o.History, order.Event{At: base.Add(time.Duration(len(o.History)) * time.Second), Step: step})
			mustUpdate(t, s, o)
		}
		// Reserved and parked before the charge: a retry will charge.
		o := mustCreate(t, s, newOrder("ord_1", "c-1", "k-1", base))
		step(&o, order.StepReserved, order.Pending)
		step(&o, order.StepParked, order.NeedsAttention)
		if got := mustGet(t, s, "ord_1").PaymentToken; got != "tok_visa" {
			t.Errorf("order not yet charged: token %q, want tok_visa kept", got)
		}
		// Charged and still under way: nothing will charge it again.
		o2 := mustCreate(t, s, newOrder("ord_2", "c-1", "k-2", base))
		step(&o2, order.StepCharged, order.Pending)
		if got := mustGet(t, s, "ord_2").PaymentToken; got != "" {
			t.Errorf("charged order: token %q, want it forgotten", got)
		}
		// An update after that does not bring it back.
		step(&o2, order.StepCommitted, order.Confirmed)
		if got := mustGet(t, s, "ord_2"); got.PaymentToken != "" || got.Status != order.Confirmed {
			t.Errorf("confirmed order: token %q, status %v; want no token", got.PaymentToken, got.Status)
		}
	})

	t.Run("stale version is refused and changes nothing", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		o := mustCreate(t, s, newOrder("ord_1", "c-1", "k-1", base))
		stale := o.Clone()
		o.Status = order.Confirmed
		mustUpdate(t, s, &o)
		o.PaymentToken = "" // settled: forgotten by the store
		stale.Status = order.Rejected
		stale.History = append(stale.History, order.Event{At: base, Step: order.StepRejected})
		if err := s.Update(t.Context(), &stale); !errors.Is(err, order.ErrStale) {
			t.Errorf("Update with a stale version: got %v, want ErrStale", err)
		}
		if apperr.CodeOf(order.ErrStale) != apperr.Aborted {
			t.Errorf("ErrStale has code %q, want %q", apperr.CodeOf(order.ErrStale), apperr.Aborted)
		}
		if d := diff(o, mustGet(t, s, "ord_1")); d != "" {
			t.Errorf("a refused update changed the order (-want +got):\n%s", d)
		}
	})

	t.Run("unknown order", func(t *testing.T) {
		t.Parallel()
		missing := newOrder("ord_x", "c-1", "k", base)
		if err := newStore(t).Update(t.Context(), &missing); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("got %v, want NotFound", err)
		}
	})

	t.Run("of concurrent updates from one version exactly one wins", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		o := mustCreate(t, s, newOrder("ord_1", "c-1", "k-1", base))
		const n = 10
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			mine := o.Clone()
			mine.History = append(mine.History, order.Event{At: base, Step: fmt.Sprintf("writer %d", i)})
			wg.Go(func() {
				<-start
				errs[i] = s.Update(context.WithoutCancel(t.Context()), &mine)
			})
		}
		close(start)
		wg.Wait()
		wins := 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, order.ErrStale):
				t.Errorf("Update #%d: got %v, want nil or ErrStale", i, err)
			}
		}
		if wins != 1 {
			t.Errorf("got %d winning updates, want 1", wins)
		}
		if got := mustGet(t, s, "ord_1"); len(got.History) != 2 || got.Version != 1 {
			t.Errorf("got %d events at version %d, want 2 events (created, one writer's) at version 1", len(got.History), got.Version)
		}
	})
}

func testList(t *testing.T, newStore NewStore) {
	s := newStore(t)
	// Five orders a minute apart, two of them at the same instant (the id
	// breaks the tie), and another customer's order in between.
	var ids []string // newest first
	for i, at := range []time.Duration{0, time.Minute, 2 * time.Minute, 2 * time.Minute, 3 * time.Minute} {
		id := fmt.Sprintf("ord_%d", i)
		mustCreate(t, s, newOrder(id, "c-1", fmt.Sprintf("k-%d", i), base.Add(at)))
		ids = append([]string{id}, ids...)
	}
	// ord_2 and ord_3 share a time: the higher id comes first, as prepended.
	mustCreate(t, s, newOrder("ord_other", "c-2", "k-0", base.Add(90*time.Second)))

	t.Run("pages walk newest first", func(t *testing.T) {
		t.Parallel()
		var got []string
		after := ""
		for range 10 { // bounded: a paging bug must not hang the test
			page, err := s.ListByCustomer(t.Context(), "c-1", after, 2)
			if err != nil {
				t.Fatalf("ListByCustomer(after %q): %v", after, err)
			}
			for _, o := range page {
				if o.CustomerID != "c-1" {
					t.Errorf("got order %s of customer %s, want only c-1's", o.ID, o.CustomerID)
				}
				if len(o.Items) != 2 || len(o.History) != 1 {
					t.Errorf("order %s came with %d items and %d events, want 2 and 1", o.ID, len(o.Items), len(o.History))
				}
				got = append(got, o.ID)
			}
			if len(page) < 2 {
				break
			}
			after = page[len(page)-1].ID
		}
		if d := diff(ids, got); d != "" {
			t.Errorf("pages differ (-want +got):\n%s", d)
		}
	})

	t.Run("unknown page token is invalid", func(t *testing.T) {
		t.Parallel()
		for _, token := range []string{"ord_nope", "ord_other"} { // the second is c-2's
			_, err := s.ListByCustomer(t.Context(), "c-1", token, 2)
			if apperr.CodeOf(err) != apperr.Invalid {
				t.Errorf("after %q: got %v, want Invalid", token, err)
			}
		}
	})

	t.Run("customer without orders", func(t *testing.T) {
		t.Parallel()
		got, err := s.ListByCustomer(t.Context(), "c-nobody", "", 10)
		if err != nil || len(got) != 0 {
			t.Errorf("got %d orders, %v; want none", len(got), err)
		}
	})
}

func testClaimStale(t *testing.T, newStore NewStore) {
	now := base.Add(time.Hour)
	olderThan, until := now.Add(-30*time.Second), now.Add(30*time.Second)

	// setup stores orders in every state ClaimStale must tell apart and
	// returns the ids of those it must claim, oldest change first.
	setup := func(t *testing.T, s order.Store) []string {
		t.Helper()
		mustCreate(t, s, newOrder("ord_stale", "c-1", "k-1", base))
		expired := newOrder("ord_expired_claim", "c-1", "k-2", base.Add(time.Second))
		expired.ClaimedUntil = now // a claim that ends now is over
		mustCreate(t, s, expired)
		held := newOrder("ord_held", "c-1", "k-3", base)
		held.ClaimedUntil = now.Add(time.Second)
		mustCreate(t, s, held)
		mustCreate(t, s, newOrder("ord_fresh", "c-1", "k-4", olderThan)) // not older than the grace period
		done := mustCreate(t, s, newOrder("ord_done", "c-1", "k-5", base))
		done.Status = order.Confirmed
		mustUpdate(t, s, &done)
		cancelling := newOrder("ord_cancelling", "c-1", "k-6", base.Add(2*time.Second))
		cancelling.Status = order.Cancelling
		mustCreate(t, s, cancelling)
		parked := newOrder("ord_parked", "c-1", "k-7", base)
		parked.Status, parked.Attention = order.NeedsAttention, "RETRIES_EXHAUSTED: test"
		mustCreate(t, s, parked)
		dueLater := newOrder("ord_due_later", "c-1", "k-8", base)
		dueLater.NextAttemptAt = now.Add(time.Hour) // its last run stopped short; recovery waits
		mustCreate(t, s, dueLater)
		return []string{"ord_stale", "ord_expired_claim", "ord_cancelling"}
	}

	t.Run("claims orders under way that nobody holds, old enough and due", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		want := setup(t, s)
		before := mustGet(t, s, "ord_stale")
		got, err := s.ClaimStale(t.Context(), now, olderThan, until, 10)
		if err != nil {
			t.Fatalf("ClaimStale: %v", err)
		}
		var ids []string
		for _, o := range got {
			ids = append(ids, o.ID)
			if !o.ClaimedUntil.Equal(until) {
				t.Errorf("claimed order %s has ClaimedUntil %v, want %v", o.ID, o.ClaimedUntil, until)
			}
			if d := diff(o, mustGet(t, s, o.ID)); d != "" {
				t.Errorf("ClaimStale returned %s unlike it is stored (-returned +stored):\n%s", o.ID, d)
			}
		}
		if d := diff(want, ids); d != "" {
			t.Fatalf("claimed orders differ (-want +got):\n%s", d)
		}
		claimed := got[0]
		if claimed.Version != before.Version+1 || len(claimed.Items) != 2 || len(claimed.History) != 1 {
			t.Errorf("claimed order has version %d, %d items, %d events; want %d, 2, 1",
				claimed.Version, len(claimed.Items), len(claimed.History), before.Version+1)
		}
		// The version moved: whoever held the order before cannot write.
		before.Status = order.Confirmed
		if err := s.Update(t.Context(), &before); !errors.Is(err, order.ErrStale) {
			t.Errorf("Update by the previous holder: got %v, want ErrStale", err)
		}

		// Claimed orders are not claimed again while the claim lasts...
		if again, err := s.ClaimStale(t.Context(), now, olderThan, until, 10); err != nil || len(again) != 0 {
			t.Errorf("second ClaimStale: got %d orders, %v; want none", len(again), err)
		}
		// ...and are when it has run out (the held order's too, by then).
		after := until.Add(time.Second)
		again, err := s.ClaimStale(t.Context(), after, olderThan, after.Add(30*time.Second), 10)
		if err != nil {
			t.Fatalf("ClaimStale after the claims ran out: %v", err)
		}
		if len(again) != 4 {
			t.Errorf("after the claims ran out: got %d orders, want 4", len(again))
		}
	})

	t.Run("limit", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		want := setup(t, s)
		got, err := s.ClaimStale(t.Context(), now, olderThan, until, 1)
		if err != nil {
			t.Fatalf("ClaimStale: %v", err)
		}
		if len(got) != 1 || got[0].ID != want[0] {
			t.Errorf("got %d orders, want only the oldest, %s", len(got), want[0])
		}
	})

	t.Run("concurrent claimers never share an order", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const orders, claimers = 30, 6
		for i := range orders {
			mustCreate(t, s, newOrder(fmt.Sprintf("ord_%02d", i), "c-1", fmt.Sprintf("k-%d", i), base.Add(time.Duration(i)*time.Millisecond)))
		}
		var mu sync.Mutex
		claims := map[string]int{}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range claimers {
			wg.Go(func() {
				<-start
				for range orders { // bounded: a store that claims forever must not hang the test
					got, err := s.ClaimStale(context.WithoutCancel(t.Context()), now, olderThan, until, 3)
					if err != nil {
						t.Errorf("ClaimStale: %v", err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, o := range got {
						claims[o.ID]++
					}
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		if len(claims) != orders {
			t.Errorf("got %d orders claimed, want all %d", len(claims), orders)
		}
		for id, n := range claims {
			if n != 1 {
				t.Errorf("order %s claimed %d times, want once", id, n)
			}
		}
	})
}

func testTransitions(t *testing.T, newStore NewStore) {
	t.Run("exactly the changes the state machine allows are stored", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		n := 0
		for _, from := range order.Statuses {
			for _, to := range order.Statuses {
				n++
				o := newOrder(fmt.Sprintf("ord_%d", n), "c-1", fmt.Sprintf("k-%d", n), base)
				o.Status = from
				o = mustCreate(t, s, o)
				before := o.Clone()
				o.Status = to
				o.UpdatedAt = base.Add(time.Second)
				err := s.Update(t.Context(), &o)
				switch allowed := order.CanTransition(from, to); {
				case allowed && err != nil:
					t.Errorf("%s to %s: %v, want it stored", from, to, err)
				case !allowed && (apperr.CodeOf(err) != apperr.FailedPrecondition || apperr.ReasonOf(err) != "ILLEGAL_TRANSITION"):
					t.Errorf("%s to %s: got %v, want FailedPrecondition ILLEGAL_TRANSITION", from, to, err)
				case !allowed:
					if d := diff(before, mustGet(t, s, o.ID)); d != "" {
						t.Errorf("%s to %s was refused but changed the order (-want +got):\n%s", from, to, d)
					}
				}
			}
		}
	})
}

func testListByStatus(t *testing.T, newStore NewStore) {
	s := newStore(t)
	for i, at := range []time.Duration{3, 1, 2} {
		o := newOrder(fmt.Sprintf("ord_p%d", i), "c-1", fmt.Sprintf("k-p%d", i), base)
		o.Status, o.Attention, o.UpdatedAt = order.NeedsAttention, "RETRIES_EXHAUSTED: test", base.Add(at*time.Second)
		mustCreate(t, s, o)
	}
	mustCreate(t, s, newOrder("ord_pending", "c-1", "k-x", base))

	t.Run("pages walk the least recently changed first", func(t *testing.T) {
		t.Parallel()
		var ids []string
		after := ""
		for range 3 {
			page, err := s.ListByStatus(t.Context(), order.NeedsAttention, after, 2)
			if err != nil {
				t.Fatalf("ListByStatus: %v", err)
			}
			if len(page) == 0 {
				break
			}
			for _, o := range page {
				ids = append(ids, o.ID)
				if o.Attention == "" {
					t.Errorf("order %s listed without its attention", o.ID)
				}
			}
			after = page[len(page)-1].ID
		}
		if d := diff([]string{"ord_p1", "ord_p2", "ord_p0"}, ids); d != "" {
			t.Errorf("parked orders differ (-want +got):\n%s", d)
		}
	})

	t.Run("a page token not in that status is invalid", func(t *testing.T) {
		t.Parallel()
		if _, err := s.ListByStatus(t.Context(), order.NeedsAttention, "ord_pending", 2); apperr.CodeOf(err) != apperr.Invalid {
			t.Errorf("got %v, want Invalid", err)
		}
	})
}

func testShippingTold(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ended := func(id string, st, told order.Status, at time.Duration) {
		o := newOrder(id, "c-1", "k-"+id, base)
		o.Status, o.ShippingTold, o.UpdatedAt = st, told, base.Add(at*time.Second)
		mustCreate(t, s, o)
	}
	ended("ord_confirmed", order.Confirmed, 0, 2)
	ended("ord_cancelled", order.Cancelled, 0, 1)
	ended("ord_told", order.Confirmed, order.Confirmed, 0)
	ended("ord_cancelled_after_shipping", order.Cancelled, order.Confirmed, 3)
	ended("ord_declined", order.PaymentDeclined, 0, 0)
	mustCreate(t, s, newOrder("ord_pending", "c-1", "k-pending", base))

	untold := func(t *testing.T, limit int) []string {
		t.Helper()
		orders, err := s.ListUntold(t.Context(), limit)
		if err != nil {
			t.Fatalf("ListUntold: %v", err)
		}
		ids := make([]string, len(orders))
		for i, o := range orders {
			ids[i] = o.ID
		}
		return ids
	}
	// Confirmed or cancelled, and not told of that: least recently
	// updated first.
	if d := diff([]string{"ord_cancelled", "ord_confirmed", "ord_cancelled_after_shipping"}, untold(t, 10)); d != "" {
		t.Errorf("untold orders differ (-want +got):\n%s", d)
	}
	if d := diff([]string{"ord_cancelled"}, untold(t, 1)); d != "" {
		t.Errorf("untold orders, limit 1, differ (-want +got):\n%s", d)
	}

	before := mustGet(t, s, "ord_confirmed")
	if err := s.MarkTold(t.Context(), []order.Told{{ID: "ord_confirmed", Status: order.Confirmed}}); err != nil {
		t.Fatalf("MarkTold: %v", err)
	}
	after := mustGet(t, s, "ord_confirmed")
	if after.ShippingTold != order.Confirmed || after.Version != before.Version || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("after MarkTold: told %s, version %d→%d, updated %v→%v; want told CONFIRMED, version and time kept",
			after.ShippingTold, before.Version, after.Version, before.UpdatedAt, after.UpdatedAt)
	}
	// A mark for a status the order has left changes nothing: the order
	// was cancelled since, and shipping must hear of that too.
	if err := s.MarkTold(t.Context(), []order.Told{{ID: "ord_cancelled_after_shipping", Status: order.Confirmed}}); err != nil {
		t.Fatalf("MarkTold of a left status: %v", err)
	}
	if d := diff([]string{"ord_cancelled", "ord_cancelled_after_shipping"}, untold(t, 10)); d != "" {
		t.Errorf("untold orders after the marks differ (-want +got):\n%s", d)
	}
	// Several in one write; an unknown order among them is NotFound and
	// the others are marked all the same.
	err := s.MarkTold(t.Context(), []order.Told{
		{ID: "ord_cancelled", Status: order.Cancelled}, {ID: "ord_nope", Status: order.Confirmed},
		{ID: "ord_cancelled_after_shipping", Status: order.Cancelled},
	})
	if apperr.CodeOf(err) != apperr.NotFound || !strings.Contains(err.Error(), "ord_nope") {
		t.Errorf("MarkTold with an unknown order: %v, want NotFound naming ord_nope", err)
	}
	if ids := untold(t, 10); len(ids) != 0 {
		t.Errorf("untold orders after marking them all: %v, want none", ids)
	}

	// An update from a copy read before the mark keeps the mark.
	before.Reason = "updated after the mark"
	mustUpdate(t, s, &before)
	if got := mustGet(t, s, "ord_confirmed"); got.ShippingTold != order.Confirmed || got.Reason != "updated after the mark" {
		t.Errorf("after Update: told %s, reason %q; want CONFIRMED kept and the update stored", got.ShippingTold, got.Reason)
	}
}
