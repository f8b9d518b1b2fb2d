package order_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/shopmesh/shopmesh/order/internal/memstore"
	"github.com/shopmesh/shopmesh/order/internal/order"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// fakeShipping records what it is told, by order id, fails while down,
// and refuses the orders in refuse.
type fakeShipping struct {
	mu     sync.Mutex
	down   bool
	refuse map[string]bool
	told   []string // "ship o-1", "cancel o-1"
	items  map[string][]order.Item
}

func (f *fakeShipping) Ship(_ context.Context, o order.Order) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return apperr.New(apperr.Unavailable, "shipping down")
	}
	if f.refuse[o.ID] {
		return apperr.New(apperr.Invalid, "order %s refused", o.ID)
	}
	f.told = append(f.told, "ship "+o.ID)
	if f.items == nil {
		f.items = map[string][]order.Item{}
	}
	f.items[o.ID] = o.Items
	return nil
}

func (f *fakeShipping) CancelShipment(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return apperr.New(apperr.Unavailable, "shipping down")
	}
	f.told = append(f.told, "cancel "+id)
	return nil
}

func (f *fakeShipping) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *fakeShipping) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.told)
}

// pass runs one relay pass and checks how many orders it told.
func pass(t *testing.T, r *order.ShippingRelay, want int) {
	t.Helper()
	if n, err := r.Pass(t.Context()); n != want || err != nil {
		t.Errorf("Pass: told %d, %v; want %d, nil", n, err, want)
	}
}

// The relay tells shipping of an order the saga confirmed, once, with its
// items; of its cancellation later; and of nothing while shipping is down,
// which it makes up for on the pass after.
func TestShippingRelay(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	p := newPeers(t)
	svc := newServiceOn(t, store, p)
	ship := &fakeShipping{}
	relay, err := order.NewShippingRelay(store, ship, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}

	place(t, svc, request("k-0")) // confirmed before the relay ran at all
	ship.setDown(true)
	o := place(t, svc, request("k-1"))
	wantStatus(t, o, order.Confirmed)
	pass(t, relay, 0) // shipping down: nothing told, nothing lost
	ship.setDown(false)
	pass(t, relay, 2) // both confirmed orders
	pass(t, relay, 0) // and only once
	if got := ship.calls(); !slices.Contains(got, "ship "+o.ID) || len(got) != 2 {
		t.Errorf("shipping was told %v, want each confirmed order shipped once", got)
	}
	if got := ship.items[o.ID]; len(got) != 1 || got[0] != (order.Item{ProductID: "p-1", Quantity: 2}) {
		t.Errorf("order %s shipped with items %v, want its own", o.ID, got)
	}

	if _, err := svc.CancelOrder(t.Context(), o.ID); err != nil {
		t.Fatalf("CancelOrder: %v", err)
	}
	wantStatus(t, stored(t, svc, o.ID), order.Cancelled)
	pass(t, relay, 1)
	if got := ship.calls(); got[len(got)-1] != "cancel "+o.ID {
		t.Errorf("shipping was told %v, want the cancellation last", got)
	}
	pass(t, relay, 0)
}

// An order shipping refuses is retried on later passes, and does not hold
// up the orders behind it.
func TestShippingRelay_RefusedOrder(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	svc := newServiceOn(t, store, newPeers(t))
	first := place(t, svc, request("k-1"))
	second := place(t, svc, request("k-2"))
	ship := &fakeShipping{refuse: map[string]bool{first.ID: true}}
	relay, err := order.NewShippingRelay(store, ship, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	pass(t, relay, 1)
	if got := ship.calls(); len(got) != 1 || got[0] != "ship "+second.ID {
		t.Errorf("shipping was told %v, want only %s", got, second.ID)
	}
	ship.mu.Lock()
	ship.refuse = nil
	ship.mu.Unlock()
	pass(t, relay, 1)
	pass(t, relay, 0)
}
