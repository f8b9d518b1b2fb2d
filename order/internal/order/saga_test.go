package order_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/order/internal/memstore"
	"github.com/shopmesh/shopmesh/order/internal/order"
	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
	"github.com/shopmesh/shopmesh/pkg/platform/overload"
)

// newService returns a Service over a fresh memstore and the peers' fakes,
// retrying failed steps after a millisecond or so; the test's cleanup
// closes it.
func newService(t *testing.T, p *peers, opts ...order.Option) *order.Service {
	t.Helper()
	return newServiceOn(t, memstore.New(), p, opts...)
}

// newServiceOn is newService over store.
func newServiceOn(t *testing.T, store order.Store, p *peers, opts ...order.Option) *order.Service {
	t.Helper()
	opts = append([]order.Option{order.WithRetryBackoff(time.Millisecond, 5*time.Millisecond)}, opts...)
	svc, err := order.NewService(store, p.inv, p.pay, slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	t.Cleanup(func() { closeService(t, svc) })
	return svc
}

// closeService stops svc's background runs, failing the test if they do
// not stop within 5s.
func closeService(t *testing.T, svc *order.Service) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 5*time.Second)
	defer cancel()
	if err := svc.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// within returns a context whose deadline is d away, as a request's is.
func within(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitStored polls until the stored order id is no longer PENDING, or 5s.
func waitStored(t *testing.T, svc *order.Service, id string) order.Order {
	t.Helper()
	end := time.Now().Add(5 * time.Second)
	for {
		o := stored(t, svc, id)
		if o.Status != order.Pending || time.Now().After(end) {
			return o
		}
		time.Sleep(time.Millisecond)
	}
}

// request returns a valid PlaceOrder request for customer c-1 with key.
func request(key string) order.PlaceRequest {
	return order.PlaceRequest{
		CustomerID: "c-1", IdempotencyKey: key, PaymentToken: "tok_visa",
		Items: []order.Item{{ProductID: "p-1", Quantity: 2}},
	}
}

// place places req and fails the test on error.
func place(t *testing.T, svc *order.Service, req order.PlaceRequest) order.Order {
	t.Helper()
	o, _, err := svc.Place(context.Background(), req)
	if err != nil {
		t.Fatalf("PlaceOrder(%q): %v", req.IdempotencyKey, err)
	}
	return o
}

// stored returns the stored version of order id.
func stored(t *testing.T, svc *order.Service, id string) order.Order {
	t.Helper()
	o, err := svc.GetOrder(context.Background(), id)
	if err != nil {
		t.Fatalf("GetOrder(%q): %v", id, err)
	}
	return o
}

// steps returns the step names of an order's history.
func steps(o order.Order) []string {
	out := make([]string, len(o.History))
	for i, e := range o.History {
		out[i] = e.Step
	}
	return out
}

// wantCalls fails the test unless the peers saw exactly want, in order.
func wantCalls(t *testing.T, p *peers, want ...string) {
	t.Helper()
	if got := p.calls.get(); !slices.Equal(got, want) {
		t.Errorf("got calls %v, want %v", got, want)
	}
}

// wantStatus fails the test unless o has status want.
func wantStatus(t *testing.T, o order.Order, want order.Status) {
	t.Helper()
	if o.Status != want {
		t.Errorf("order %s: got status %s, want %s", o.ID, o.Status, want)
	}
}

// wantOutcome fails the test unless err is the apperr an unsuccessful
// PlaceOrder returns: FailedPrecondition with reason and the order's id.
func wantOutcome(t *testing.T, err error, reason, orderID string) {
	t.Helper()
	var e *apperr.Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v, want an *apperr.Error", err)
	}
	if e.Code != apperr.FailedPrecondition || e.Reason != reason {
		t.Errorf("got code %q reason %q, want %q %q", e.Code, e.Reason, apperr.FailedPrecondition, reason)
	}
	if got := e.Metadata["order_id"]; got != orderID {
		t.Errorf("got metadata order_id %q, want %q", got, orderID)
	}
}

func TestNewService_MissingDependencies(t *testing.T) {
	t.Parallel()
	p := newPeers(t)
	logger := slog.New(slog.DiscardHandler)
	tests := []struct {
		name   string
		store  order.Store
		inv    order.Inventory
		pay    order.Payment
		logger *slog.Logger
	}{
		{"store", nil, p.inv, p.pay, logger},
		{"inventory", memstore.New(), nil, p.pay, logger},
		{"payment", memstore.New(), p.inv, nil, logger},
		{"logger", memstore.New(), p.inv, p.pay, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := order.NewService(tt.store, tt.inv, tt.pay, tt.logger); err == nil {
				t.Errorf("NewService without %s returned no error", tt.name)
			}
		})
	}
}

func TestNewService_Options(t *testing.T) {
	t.Parallel()
	p := newPeers(t)
	logger := slog.New(slog.DiscardHandler)
	tests := []struct {
		name string
		opt  order.Option
	}{
		{"zero recovery-after", order.WithRecoveryAfter(0)},
		{"negative recovery-after", order.WithRecoveryAfter(-time.Second)},
		{"nil clock", order.WithClock(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := order.NewService(memstore.New(), p.inv, p.pay, logger, tt.opt); err == nil {
				t.Errorf("NewService with %s returned no error", tt.name)
			}
		})
	}
}

func TestService_PlaceOrder(t *testing.T) {
	t.Parallel()

	t.Run("happy path", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		req := request("k-1")
		var charged order.Money
		var chargedID, chargedToken string
		p.pay.charge = func(_ context.Context, orderID string, amount order.Money, token string) (order.ChargeResult, error) {
			p.calls.add("charge")
			chargedID, charged, chargedToken = orderID, amount, token
			return order.ChargeResult{}, nil
		}
		reserve := p.inv.reserve
		p.inv.reserve = func(ctx context.Context, orderID string, items []order.Item) (order.Reservation, error) {
			if !slices.Equal(items, req.Items) {
				t.Errorf("reserve got items %v, want %v", items, req.Items)
			}
			return reserve(ctx, orderID, items)
		}
		svc := newService(t, p)

		o := place(t, svc, req)
		wantStatus(t, o, order.Confirmed)
		if !strings.HasPrefix(o.ID, "ord_") || o.CustomerID != "c-1" || o.IdempotencyKey != "k-1" {
			t.Errorf("got id %q customer %q key %q, want ord_… c-1 k-1", o.ID, o.CustomerID, o.IdempotencyKey)
		}
		if !slices.Equal(o.Lines, reservation.Lines) || o.Total != reservation.Total {
			t.Errorf("got lines %v total %v, want the reservation's %v %v", o.Lines, o.Total, reservation.Lines, reservation.Total)
		}
		wantCalls(t, p, "reserve", "charge", "commit")
		if chargedID != o.ID || charged != reservation.Total || chargedToken != "tok_visa" {
			t.Errorf("charged order %q %v with %q, want %q %v with tok_visa", chargedID, charged, chargedToken, o.ID, reservation.Total)
		}
		if got, want := steps(o), []string{"created", "reserved", "charged", "committed"}; !slices.Equal(got, want) {
			t.Errorf("got history %v, want %v", got, want)
		}
		if got := stored(t, svc, o.ID); got.Status != order.Confirmed || !slices.Equal(steps(got), steps(o)) {
			t.Errorf("stored order is %s with history %v, want what PlaceOrder returned", got.Status, steps(got))
		}
	})

	t.Run("out of stock", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		p.inv.reserve = func(context.Context, string, []order.Item) (order.Reservation, error) {
			p.calls.add("reserve")
			return order.Reservation{}, apperr.New(apperr.FailedPrecondition, "p-1: 1 available, 2 requested").
				WithReason(order.ReasonOutOfStock, "product_id", "p-1")
		}
		svc := newService(t, p)

		o, _, err := svc.Place(context.Background(), request("k-1"))
		wantOutcome(t, err, order.ReasonOutOfStock, o.ID)
		wantStatus(t, o, order.Rejected)
		wantCalls(t, p, "reserve")
		if got, want := steps(o), []string{"created", "rejected"}; !slices.Equal(got, want) {
			t.Errorf("got history %v, want %v", got, want)
		}
		wantStatus(t, stored(t, svc, o.ID), order.Rejected)

		// A repeat answers the same without asking inventory again.
		again, _, err := svc.Place(context.Background(), request("k-1"))
		wantOutcome(t, err, order.ReasonOutOfStock, o.ID)
		if again.ID != o.ID {
			t.Errorf("repeat got order %q, want %q", again.ID, o.ID)
		}
		wantCalls(t, p, "reserve")
	})

	t.Run("payment declined", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		p.pay.charge = func(context.Context, string, order.Money, string) (order.ChargeResult, error) {
			p.calls.add("charge")
			return order.ChargeResult{Declined: true, DeclineReason: "card_declined"}, nil
		}
		svc := newService(t, p)

		o, _, err := svc.Place(context.Background(), request("k-1"))
		wantOutcome(t, err, order.ReasonPaymentDeclined, o.ID)
		wantStatus(t, o, order.PaymentDeclined)
		wantCalls(t, p, "reserve", "charge", "release")
		if got, want := steps(o), []string{"created", "reserved", "payment declined"}; !slices.Equal(got, want) {
			t.Errorf("got history %v, want %v", got, want)
		}
		if d := o.History[len(o.History)-1].Detail; d != "card_declined" {
			t.Errorf("got decline detail %q, want card_declined", d)
		}
		wantStatus(t, stored(t, svc, o.ID), order.PaymentDeclined)
	})

	t.Run("release failing after a decline: answered PENDING, retried until Close", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		p.pay.charge = func(context.Context, string, order.Money, string) (order.ChargeResult, error) {
			p.calls.add("charge")
			return order.ChargeResult{Declined: true}, nil
		}
		p.inv.release = func(context.Context, string) error {
			p.calls.add("release")
			return apperr.New(apperr.Unavailable, "inventory down")
		}
		svc := newService(t, p)
		o, _, err := svc.Place(within(t, 200*time.Millisecond), request("k-1"))
		if err != nil {
			t.Fatalf("PlaceOrder: %v, want the PENDING order without an error", err)
		}
		wantStatus(t, o, order.Pending)
		closeService(t, svc)
		got := stored(t, svc, o.ID)
		wantStatus(t, got, order.Pending)
		if !got.ClaimedUntil.IsZero() {
			t.Errorf("after Close the order is claimed until %v, want the claim given up", got.ClaimedUntil)
		}
		if n := p.calls.count("release"); n < 2 {
			t.Errorf("release was tried %d times, want the run to retry it", n)
		}
	})

	t.Run("charge unavailable once: the run retries and confirms inside the request", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		charge := p.pay.charge
		var failures atomic.Int32
		failures.Store(1)
		p.pay.charge = func(ctx context.Context, orderID string, amount order.Money, token string) (order.ChargeResult, error) {
			if failures.Add(-1) >= 0 {
				p.calls.add("charge")
				return order.ChargeResult{}, apperr.New(apperr.Unavailable, "payment down")
			}
			return charge(ctx, orderID, amount, token)
		}
		svc := newService(t, p)

		o, _, err := svc.Place(within(t, 5*time.Second), request("k-1"))
		if err != nil {
			t.Fatalf("PlaceOrder: %v", err)
		}
		wantStatus(t, o, order.Confirmed)
		if !slices.Equal(o.Lines, reservation.Lines) || o.Total != reservation.Total {
			t.Errorf("got lines %v total %v, want the reservation's", o.Lines, o.Total)
		}
		// The retry resumes after the recorded reservation: it checks that
		// the reservation is still held (which holds it again), then
		// charges the recorded total; nothing is reserved twice.
		if got := p.reserved(); got != 1 {
			t.Errorf("got %d reservations, want 1", got)
		}
		wantCalls(t, p, "reserve", "charge", "reserve", "charge", "commit")
		if got := steps(o); !slices.Equal(got, []string{"created", "reserved", "charged", "committed"}) {
			t.Errorf("got history %v, want each step once", got)
		}
	})

	t.Run("reserve unavailable: answered PENDING at the deadline, nothing charged", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		p.inv.reserve = func(context.Context, string, []order.Item) (order.Reservation, error) {
			p.calls.add("reserve")
			return order.Reservation{}, apperr.New(apperr.Unavailable, "inventory down")
		}
		svc := newService(t, p)
		ctx := within(t, 200*time.Millisecond)
		o, _, err := svc.Place(ctx, request("k-1"))
		if err != nil {
			t.Fatalf("PlaceOrder: %v, want the PENDING order without an error", err)
		}
		// The answer keeps time for itself: it comes before the deadline.
		if ctx.Err() != nil {
			t.Errorf("PlaceOrder answered after its deadline")
		}
		wantStatus(t, o, order.Pending)
		closeService(t, svc)
		if n := p.calls.count("charge"); n != 0 {
			t.Errorf("got %d charges, want none before a reservation", n)
		}
		got := stored(t, svc, o.ID)
		wantStatus(t, got, order.Pending)
		if !slices.Equal(steps(got), []string{"created"}) {
			t.Errorf("got history %v, want only created", steps(got))
		}
	})

	t.Run("commit unavailable once: confirmed inside the request without a second charge", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		commit := p.inv.commit
		var failures atomic.Int32
		failures.Store(1)
		p.inv.commit = func(ctx context.Context, orderID string) error {
			if failures.Add(-1) >= 0 {
				p.calls.add("commit")
				return apperr.New(apperr.Unavailable, "inventory down")
			}
			return commit(ctx, orderID)
		}
		svc := newService(t, p)
		o, _, err := svc.Place(within(t, 5*time.Second), request("k-1"))
		if err != nil {
			t.Fatalf("PlaceOrder: %v", err)
		}
		wantStatus(t, o, order.Confirmed)
		// The charge is recorded, so the retry only commits: the customer
		// is not even asked to pay again.
		wantCalls(t, p, "reserve", "charge", "commit", "commit")
		if got := steps(o); !slices.Equal(got, []string{"created", "reserved", "charged", "committed"}) {
			t.Errorf("got history %v, want each step once", got)
		}
	})

	t.Run("a saga slower than the request is answered PENDING and finished in the background", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		charge := p.pay.charge
		release := make(chan struct{})
		p.pay.charge = func(ctx context.Context, orderID string, amount order.Money, token string) (order.ChargeResult, error) {
			<-release // a slow provider
			return charge(ctx, orderID, amount, token)
		}
		svc := newService(t, p)
		o, replayed, err := svc.Place(within(t, 200*time.Millisecond), request("k-1"))
		if err != nil || replayed {
			t.Fatalf("Place: replayed=%v, %v; want a new order, no error", replayed, err)
		}
		wantStatus(t, o, order.Pending)

		// A repeat meanwhile answers the order as it is, without a second run.
		again, replayed, err := svc.Place(within(t, 200*time.Millisecond), request("k-1"))
		if err != nil || !replayed || again.ID != o.ID || again.Status != order.Pending {
			t.Errorf("repeat: %s %s replayed=%v, %v; want %s PENDING replayed", again.ID, again.Status, replayed, err, o.ID)
		}

		close(release)
		got := waitStored(t, svc, o.ID)
		wantStatus(t, got, order.Confirmed)
		wantCalls(t, p, "reserve", "charge", "commit")
		if !got.ClaimedUntil.IsZero() {
			t.Errorf("the finished order is claimed until %v", got.ClaimedUntil)
		}
	})

	t.Run("same key with another body is a conflict", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		svc := newService(t, p)
		first := place(t, svc, request("k-1"))

		moreItems := request("k-1")
		moreItems.Items = []order.Item{{ProductID: "p-1", Quantity: 3}}
		otherToken := request("k-1")
		otherToken.PaymentToken = "tok_other"
		for _, req := range []order.PlaceRequest{moreItems, otherToken} {
			_, _, err := svc.Place(context.Background(), req)
			if got := apperr.CodeOf(err); got != apperr.Conflict {
				t.Errorf("got error %v (code %q), want Conflict", err, got)
			}
		}
		wantCalls(t, p, "reserve", "charge", "commit")
		wantStatus(t, stored(t, svc, first.ID), order.Confirmed)
	})

	t.Run("keys are per customer", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		svc := newService(t, p)
		a := place(t, svc, request("k-1"))
		other := request("k-1")
		other.CustomerID = "c-2"
		b := place(t, svc, other)
		if a.ID == b.ID {
			t.Errorf("two customers with one key got the same order %q, want two", a.ID)
		}
	})

	t.Run("sequential repeat of a confirmed order", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		svc := newService(t, p)
		first := place(t, svc, request("k-1"))
		for i := range 3 {
			again := place(t, svc, request("k-1"))
			if again.ID != first.ID || again.Status != order.Confirmed {
				t.Errorf("repeat #%d got order %q %s, want %q CONFIRMED", i+1, again.ID, again.Status, first.ID)
			}
		}
		if got := p.calls.count("charge"); got != 1 {
			t.Errorf("got %d charges, want 1", got)
		}
		wantCalls(t, p, "reserve", "charge", "commit")
	})

	t.Run("concurrent repeats make one order", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		svc := newService(t, p)
		const n = 20
		ids := make([]string, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				o, _, err := svc.Place(context.Background(), request("k-1"))
				ids[i], errs[i] = o.ID, err
			})
		}
		close(start)
		wg.Wait()
		waitStored(t, svc, ids[0])
		for i := range n {
			// A repeat that finds another request driving the saga gets
			// the order as it is; an error is a bug.
			if errs[i] != nil {
				t.Errorf("PlaceOrder #%d: %v", i, errs[i])
			}
			if ids[i] != ids[0] {
				t.Errorf("PlaceOrder #%d got order %q, want %q", i, ids[i], ids[0])
			}
		}
		wantStatus(t, stored(t, svc, ids[0]), order.Confirmed)
		if got := p.reserved(); got != 1 {
			t.Errorf("got %d reservations, want 1", got)
		}
		orders, _, err := svc.ListOrders(context.Background(), "c-1", 100, "")
		if err != nil {
			t.Fatalf("ListOrders: %v", err)
		}
		if len(orders) != 1 {
			t.Errorf("got %d orders for the customer, want 1", len(orders))
		}
		// Repeats that find the order held by the first run leave it alone.
		for _, call := range []string{"reserve", "charge", "commit"} {
			if got := p.calls.count(call); got != 1 {
				t.Errorf("the peers got %d %s calls for one order, want 1", got, call)
			}
		}
	})
}

func TestService_PlaceOrder_Invalid(t *testing.T) {
	t.Parallel()
	items := func(n int) []order.Item {
		out := make([]order.Item, n)
		for i := range out {
			out[i] = order.Item{ProductID: fmt.Sprintf("p-%d", i), Quantity: 1}
		}
		return out
	}
	tests := []struct {
		name   string
		modify func(*order.PlaceRequest)
	}{
		{"no customer", func(r *order.PlaceRequest) { r.CustomerID = "" }},
		{"no idempotency key", func(r *order.PlaceRequest) { r.IdempotencyKey = "" }},
		{"idempotency key over 128 characters", func(r *order.PlaceRequest) { r.IdempotencyKey = strings.Repeat("k", api.MaxIdempotencyKeyLen+1) }},
		{"no items", func(r *order.PlaceRequest) { r.Items = nil }},
		{"more than 100 items", func(r *order.PlaceRequest) { r.Items = items(api.MaxOrderItems + 1) }},
		{"empty product id", func(r *order.PlaceRequest) { r.Items[0].ProductID = "" }},
		{"quantity 0", func(r *order.PlaceRequest) { r.Items[0].Quantity = 0 }},
		{"negative quantity", func(r *order.PlaceRequest) { r.Items[0].Quantity = -1 }},
		{"quantity 1001", func(r *order.PlaceRequest) { r.Items[0].Quantity = api.MaxItemQuantity + 1 }},
		{"duplicate product", func(r *order.PlaceRequest) {
			r.Items = []order.Item{{ProductID: "p-1", Quantity: 1}, {ProductID: "p-1", Quantity: 1}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newPeers(t)
			svc := newService(t, p)
			req := request("k-1")
			tt.modify(&req)
			_, _, err := svc.Place(context.Background(), req)
			if got := apperr.CodeOf(err); got != apperr.Invalid {
				t.Fatalf("got error %v (code %q), want Invalid", err, got)
			}
			wantCalls(t, p)
			if orders, _, _ := svc.ListOrders(context.Background(), "c-1", 100, ""); len(orders) != 0 {
				t.Errorf("got %d orders stored, want none", len(orders))
			}
		})
	}

	t.Run("limits are inclusive", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		svc := newService(t, p)
		req := request(strings.Repeat("k", api.MaxIdempotencyKeyLen))
		req.Items = items(api.MaxOrderItems)
		req.Items[0].Quantity = api.MaxItemQuantity
		place(t, svc, req)
	})
}

func TestService_CancelOrder(t *testing.T) {
	t.Parallel()

	t.Run("confirmed order is refunded, then restocked", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		svc := newService(t, p)
		o := place(t, svc, request("k-1"))

		got, err := svc.CancelOrder(context.Background(), o.ID)
		if err != nil {
			t.Fatalf("CancelOrder: %v", err)
		}
		wantStatus(t, got, order.Cancelled)
		wantCalls(t, p, "reserve", "charge", "commit", "refund", "release")
		if s := steps(got); !slices.Equal(s[len(s)-2:], []string{"refunded", "restocked"}) {
			t.Errorf("got history %v, want it to end with refunded, restocked", s)
		}
		wantStatus(t, stored(t, svc, o.ID), order.Cancelled)

		// Cancelling again is a no-op.
		again, err := svc.CancelOrder(context.Background(), o.ID)
		if err != nil {
			t.Fatalf("second CancelOrder: %v", err)
		}
		wantStatus(t, again, order.Cancelled)
		wantCalls(t, p, "reserve", "charge", "commit", "refund", "release")
	})

	notCancellable := []struct {
		name  string
		setup func(p *peers)
		want  order.Status
	}{
		{"pending", func(p *peers) {
			p.inv.reserve = func(context.Context, string, []order.Item) (order.Reservation, error) {
				return order.Reservation{}, apperr.New(apperr.Unavailable, "inventory down")
			}
		}, order.Pending},
		{"rejected", func(p *peers) {
			p.inv.reserve = func(context.Context, string, []order.Item) (order.Reservation, error) {
				return order.Reservation{}, apperr.New(apperr.FailedPrecondition, "short").WithReason(order.ReasonOutOfStock)
			}
		}, order.Rejected},
		{"payment declined", func(p *peers) {
			p.pay.charge = func(context.Context, string, order.Money, string) (order.ChargeResult, error) {
				return order.ChargeResult{Declined: true}, nil
			}
		}, order.PaymentDeclined},
	}
	for _, tt := range notCancellable {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newPeers(t)
			tt.setup(p)
			p.pay.refund = nil // any refund fails the test
			svc := newService(t, p)
			o, _, _ := svc.Place(within(t, 200*time.Millisecond), request("k-1"))
			wantStatus(t, stored(t, svc, o.ID), tt.want)
			_, err := svc.CancelOrder(context.Background(), o.ID)
			if got := apperr.CodeOf(err); got != apperr.FailedPrecondition {
				t.Errorf("got error %v (code %q), want FailedPrecondition", err, got)
			}
			wantStatus(t, stored(t, svc, o.ID), tt.want)
		})
	}

	t.Run("unknown order", func(t *testing.T) {
		t.Parallel()
		_, err := newService(t, newPeers(t)).CancelOrder(context.Background(), "ord_nope")
		if got := apperr.CodeOf(err); got != apperr.NotFound {
			t.Errorf("got error %v (code %q), want NotFound", err, got)
		}
	})
}

func TestService_GetOrder(t *testing.T) {
	t.Parallel()
	svc := newService(t, newPeers(t))
	tests := []struct {
		name string
		id   string
		want apperr.Code
	}{
		{"empty id", "", apperr.Invalid},
		{"unknown id", "ord_nope", apperr.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := svc.GetOrder(context.Background(), tt.id)
			if got := apperr.CodeOf(err); got != tt.want {
				t.Errorf("got error %v (code %q), want %q", err, got, tt.want)
			}
		})
	}
}

func TestService_ListOrders(t *testing.T) {
	t.Parallel()
	svc := newService(t, newPeers(t))
	clock := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	order.SetClock(svc, func() time.Time { clock = clock.Add(time.Minute); return clock })

	var placed []string // oldest first
	for i := range 5 {
		placed = append(placed, place(t, svc, request(fmt.Sprintf("k-%d", i))).ID)
	}
	other := request("k-0")
	other.CustomerID = "c-2"
	place(t, svc, other)

	t.Run("page size 2 walks newest first", func(t *testing.T) {
		t.Parallel()
		var pages [][]string
		token := ""
		for range 10 { // bounded: a paging bug must not hang the test
			orders, next, err := svc.ListOrders(context.Background(), "c-1", 2, token)
			if err != nil {
				t.Fatalf("ListOrders(2, %q): %v", token, err)
			}
			page := make([]string, len(orders))
			for i, o := range orders {
				page[i] = o.ID
				if o.CustomerID != "c-1" {
					t.Errorf("got order %s of customer %q, want only c-1's", o.ID, o.CustomerID)
				}
			}
			pages = append(pages, page)
			if next == "" {
				break
			}
			token = next
		}
		want := [][]string{{placed[4], placed[3]}, {placed[2], placed[1]}, {placed[0]}}
		if !slices.EqualFunc(pages, want, slices.Equal) {
			t.Errorf("got pages %v, want %v", pages, want)
		}
	})

	t.Run("one full page has no next token", func(t *testing.T) {
		t.Parallel()
		orders, next, err := svc.ListOrders(context.Background(), "c-1", 5, "")
		if err != nil {
			t.Fatalf("ListOrders: %v", err)
		}
		if len(orders) != 5 || next != "" {
			t.Errorf("got %d orders and next token %q, want 5 and none", len(orders), next)
		}
	})

	invalid := []struct {
		name     string
		customer string
		size     int
	}{
		{"no customer", "", 2},
		{"negative page size", "c-1", -1},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := svc.ListOrders(context.Background(), tt.customer, tt.size, "")
			if got := apperr.CodeOf(err); got != apperr.Invalid {
				t.Errorf("got error %v (code %q), want Invalid", err, got)
			}
		})
	}
}

func TestService_Close(t *testing.T) {
	t.Parallel()

	t.Run("a run waiting to retry stops and gives its claim up", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		p.pay.charge = func(context.Context, string, order.Money, string) (order.ChargeResult, error) {
			return order.ChargeResult{}, apperr.New(apperr.Unavailable, "payment down")
		}
		svc := newService(t, p, order.WithRetryBackoff(time.Hour, time.Hour))
		o, _, err := svc.Place(within(t, 100*time.Millisecond), request("k-1"))
		if err != nil || o.Status != order.Pending {
			t.Fatalf("PlaceOrder: %s, %v; want PENDING", o.Status, err)
		}
		closeService(t, svc) // at once, although the next retry is an hour away
		if got := stored(t, svc, o.ID); !got.ClaimedUntil.IsZero() {
			t.Errorf("after Close the order is claimed until %v, want the claim given up", got.ClaimedUntil)
		}
	})

	t.Run("a step that does not end makes Close give up waiting and cancel it", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		entered := make(chan struct{})
		p.pay.charge = func(ctx context.Context, _ string, _ order.Money, _ string) (order.ChargeResult, error) {
			close(entered)
			<-ctx.Done() // only cancellation ends it
			return order.ChargeResult{}, ctx.Err()
		}
		svc := newService(t, p)
		go func() { _, _, _ = svc.Place(within(t, 100*time.Millisecond), request("k-1")) }()
		<-entered
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if err := svc.Close(ctx); err == nil {
			t.Error("Close returned nil while a step was still running")
		}
	})

	t.Run("no order is created after Close", func(t *testing.T) {
		t.Parallel()
		p := newPeers(t)
		svc := newService(t, p)
		closeService(t, svc)
		_, _, err := svc.Place(t.Context(), request("k-1"))
		if apperr.CodeOf(err) != apperr.Unavailable {
			t.Errorf("PlaceOrder after Close: got %v, want Unavailable", err)
		}
		if orders, _, _ := svc.ListOrders(t.Context(), "c-1", 10, ""); len(orders) != 0 {
			t.Errorf("got %d orders after Close, want none created", len(orders))
		}
	})
}

func TestService_PlaceOrder_Throttle(t *testing.T) {
	t.Parallel()
	p := newPeers(t)
	// Inventory is at capacity: it turns every Reserve away.
	var reserves atomic.Int64
	p.inv.reserve = func(context.Context, string, []order.Item) (order.Reservation, error) {
		reserves.Add(1)
		return order.Reservation{}, apperr.New(apperr.Unavailable, "at capacity").WithReason(overload.Reason)
	}
	svc := newService(t, p, order.WithThrottle(overload.NewThrottle()))
	place := func(i int) error {
		_, _, err := svc.Place(within(t, 20*time.Millisecond), request(fmt.Sprintf("k-%d", i)))
		return err
	}
	// A few orders whose sagas keep meeting the refusal...
	for i := range 3 {
		if err := place(i); err != nil {
			t.Fatalf("PlaceOrder #%d: %v", i, err)
		}
	}
	end := time.Now().Add(5 * time.Second)
	for reserves.Load() < 50 && time.Now().Before(end) {
		time.Sleep(time.Millisecond)
	}
	// ...and from then on new orders are mostly refused, before creation.
	refused := 0
	for i := 3; i < 53; i++ {
		switch err := place(i); {
		case err == nil:
		case apperr.ReasonOf(err) == overload.Reason && apperr.CodeOf(err) == apperr.Unavailable:
			refused++
		default:
			t.Fatalf("PlaceOrder #%d: %v", i, err)
		}
	}
	orders, _, err := svc.ListOrders(t.Context(), "c-1", 100, "")
	if err != nil {
		t.Fatal(err)
	}
	if refused < 25 || refused+len(orders) != 53 {
		t.Errorf("%d refused and %d created of 53, want most of the last 50 refused and every other created: a refused order is never created", refused, len(orders))
	}
}
