package memstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/shopmesh/shopmesh/order/internal/memstore"
	"github.com/shopmesh/shopmesh/order/internal/order"
	"github.com/shopmesh/shopmesh/order/internal/order/storetest"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

func newOrder(id, customer, key string) order.Order {
	return order.Order{
		ID: id, CustomerID: customer, IdempotencyKey: key, Status: order.Pending,
		Items:   []order.Item{{ProductID: "p-1", Quantity: 1}},
		History: []order.Event{{Step: "created"}},
	}
}

// create stores o and returns what Create answered, failing on error.
func create(t *testing.T, s *memstore.Store, o order.Order) (order.Order, bool) {
	t.Helper()
	got, created, err := s.Create(context.Background(), o)
	if err != nil {
		t.Fatalf("Create(%q): %v", o.ID, err)
	}
	return got, created
}

func TestStore_Create(t *testing.T) {
	t.Parallel()
	s := memstore.New()
	if _, created := create(t, s, newOrder("ord_1", "c-1", "k-1")); !created {
		t.Fatal("first Create: got created=false, want true")
	}

	t.Run("same customer and key returns the first order", func(t *testing.T) {
		t.Parallel()
		got, created := create(t, s, newOrder("ord_2", "c-1", "k-1"))
		if created || got.ID != "ord_1" {
			t.Errorf("got order %q created=%v, want ord_1 created=false", got.ID, created)
		}
	})

	t.Run("another customer with the key gets its own order", func(t *testing.T) {
		t.Parallel()
		got, created := create(t, s, newOrder("ord_3", "c-2", "k-1"))
		if !created || got.ID != "ord_3" {
			t.Errorf("got order %q created=%v, want ord_3 created=true", got.ID, created)
		}
	})
}

func TestStore_GetUpdate(t *testing.T) {
	t.Parallel()

	t.Run("returned orders are copies", func(t *testing.T) {
		t.Parallel()
		s := memstore.New()
		o, _ := create(t, s, newOrder("ord_1", "c-1", "k-1"))
		o.History[0].Step = "mutated"
		o.Items[0].Quantity = 99
		got, err := s.Get(context.Background(), "ord_1")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if got.History[0].Step != "created" || got.Items[0].Quantity != 1 {
			t.Errorf("got step %q quantity %d, want the stored order unchanged", got.History[0].Step, got.Items[0].Quantity)
		}
	})

	t.Run("update replaces", func(t *testing.T) {
		t.Parallel()
		s := memstore.New()
		o, _ := create(t, s, newOrder("ord_1", "c-1", "k-1"))
		o.Status = order.Confirmed
		if err := s.Update(context.Background(), &o); err != nil {
			t.Fatalf("Update: %v", err)
		}
		stale := o
		stale.Version--
		if err := s.Update(context.Background(), &stale); !errors.Is(err, order.ErrStale) {
			t.Errorf("Update with a stale version: got %v, want ErrStale", err)
		}
		got, err := s.Get(context.Background(), "ord_1")
		if err != nil || got.Status != order.Confirmed {
			t.Errorf("got %s, %v; want CONFIRMED", got.Status, err)
		}
	})

	t.Run("unknown order", func(t *testing.T) {
		t.Parallel()
		s := memstore.New()
		missing := newOrder("ord_x", "c-1", "k")
		if err := s.Update(context.Background(), &missing); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("Update: got %v, want NotFound", err)
		}
		if _, err := s.Get(context.Background(), "ord_x"); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("Get: got %v, want NotFound", err)
		}
	})
}

func TestStore_Contract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(*testing.T) order.Store { return memstore.New() })
}

func TestStore_Saga(t *testing.T) {
	t.Parallel()
	storetest.RunSaga(t, func(*testing.T) order.Store { return memstore.New() })
}
