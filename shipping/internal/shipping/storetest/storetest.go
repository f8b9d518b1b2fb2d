// Package storetest is the contract of shipping.Store as tests: one suite
// that every store's tests run, so the in-memory store and the Postgres
// store answer alike.
package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/apperr"

	"github.com/shopmesh/shopmesh/shipping/internal/shipping"
)

// NewStore returns an empty store that shares nothing with any other.
type NewStore func(t *testing.T) shipping.Store

// at is the suite's clock: whole microseconds in UTC, as Postgres keeps them.
var at = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

func shipment(orderID string) shipping.Shipment {
	return shipping.Shipment{
		OrderID: orderID, CustomerID: "c-1", Status: shipping.Created,
		Items:     []shipping.Item{{ProductID: "p-1", Quantity: 2}, {ProductID: "p-2", Quantity: 1}},
		CreatedAt: at, UpdatedAt: at,
	}
}

// Run runs the contract against the stores newStore makes. Its subtests
// run in parallel, each on a store of its own.
func Run(t *testing.T, newStore NewStore) {
	t.Run("create, then get", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		want := shipment("ord-1")
		got, created, err := s.Create(t.Context(), want)
		if err != nil || !created {
			t.Fatalf("Create: created=%v, %v; want created", created, err)
		}
		same(t, "Create", got, want)
		got, err = s.Get(t.Context(), "ord-1")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		same(t, "Get", got, want)
	})

	t.Run("a repeat returns the shipment stored first", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		first := shipment("ord-1")
		if _, _, err := s.Create(t.Context(), first); err != nil {
			t.Fatal(err)
		}
		again := shipment("ord-1")
		again.CreatedAt, again.UpdatedAt = at.Add(time.Hour), at.Add(time.Hour)
		got, created, err := s.Create(t.Context(), again)
		if err != nil || created {
			t.Fatalf("repeat: created=%v, %v; want the stored one", created, err)
		}
		same(t, "repeat", got, first)
	})

	t.Run("concurrent creates store one shipment", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		var created atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				_, c, err := s.Create(t.Context(), shipment("ord-1"))
				if err != nil {
					t.Errorf("Create: %v", err)
				}
				if c {
					created.Add(1)
				}
			})
		}
		wg.Wait()
		if n := created.Load(); n != 1 {
			t.Errorf("%d of 8 concurrent creates created, want 1", n)
		}
	})

	t.Run("cancel a created shipment", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		if _, _, err := s.Create(t.Context(), shipment("ord-1")); err != nil {
			t.Fatal(err)
		}
		later := at.Add(time.Minute)
		got, err := s.Cancel(t.Context(), "ord-1", later)
		if err != nil {
			t.Fatalf("Cancel: %v", err)
		}
		want := shipment("ord-1")
		want.Status, want.UpdatedAt = shipping.Cancelled, later
		same(t, "Cancel", got, want)
		// A second cancel changes nothing.
		got, err = s.Cancel(t.Context(), "ord-1", later.Add(time.Minute))
		if err != nil {
			t.Fatalf("second Cancel: %v", err)
		}
		same(t, "second Cancel", got, want)
	})

	t.Run("a cancel before the create wins over it", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		got, err := s.Cancel(t.Context(), "ord-1", at)
		if err != nil {
			t.Fatalf("Cancel: %v", err)
		}
		want := shipping.Shipment{OrderID: "ord-1", Status: shipping.Cancelled, CreatedAt: at, UpdatedAt: at}
		same(t, "Cancel without a shipment", got, want)
		late, created, err := s.Create(t.Context(), shipment("ord-1"))
		if err != nil || created {
			t.Fatalf("late Create: created=%v, %v; want the cancelled one", created, err)
		}
		same(t, "late Create", late, want)
	})

	t.Run("unknown order", func(t *testing.T) {
		t.Parallel()
		if _, err := newStore(t).Get(t.Context(), "ord-nope"); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("Get: got %v, want NotFound", err)
		}
	})

	t.Run("a cancelled context is an error", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, _, err := s.Create(ctx, shipment("ord-1")); err == nil {
			t.Error("Create with a cancelled context: no error")
		}
	})
}

func same(t *testing.T, what string, got, want shipping.Shipment) {
	t.Helper()
	if got.OrderID != want.OrderID || got.CustomerID != want.CustomerID || got.Status != want.Status ||
		!slices.Equal(got.Items, want.Items) || !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("%s: got %s, want %s", what, show(got), show(want))
	}
}

func show(s shipping.Shipment) string {
	return fmt.Sprintf("{%s %s %s %v created %s updated %s}", s.OrderID, s.CustomerID, s.Status, s.Items,
		s.CreatedAt.Format(time.RFC3339Nano), s.UpdatedAt.Format(time.RFC3339Nano))
}
