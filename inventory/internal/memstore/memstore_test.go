package memstore_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shopmesh/shopmesh/inventory/internal/inventory"
	"github.com/shopmesh/shopmesh/inventory/internal/memstore"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

func eur(minor int64) inventory.Money { return inventory.Money{Currency: "EUR", Minor: minor} }

// newStore returns a store with two products: "a" (5 left at 2.50) and
// "b" (2 left at 10.00).
func newStore() *memstore.Store {
	return memstore.New([]inventory.Product{
		{ID: "a", Name: "A", Price: eur(250), Available: 5},
		{ID: "b", Name: "B", Price: eur(1000), Available: 2},
	})
}

// available returns a product's stock and fails the test if it cannot.
func available(t *testing.T, s *memstore.Store, id string) int64 {
	t.Helper()
	p, err := s.GetProduct(context.Background(), id)
	if err != nil {
		t.Fatalf("GetProduct(%q): %v", id, err)
	}
	return p.Available
}

// wantAvailable fails the test unless product id has want units left.
func wantAvailable(t *testing.T, s *memstore.Store, id string, want int64) {
	t.Helper()
	if got := available(t, s, id); got != want {
		t.Errorf("product %s: got %d available, want %d", id, got, want)
	}
}

// reserve reserves items for orderID and fails the test on error.
func reserve(t *testing.T, s *memstore.Store, orderID string, items ...inventory.Item) inventory.Reservation {
	t.Helper()
	r, err := s.Reserve(context.Background(), orderID, items)
	if err != nil {
		t.Fatalf("Reserve(%q): %v", orderID, err)
	}
	return r
}

// wantErr fails the test unless err has the apperr code and reason given.
func wantErr(t *testing.T, err error, code apperr.Code, reason string) {
	t.Helper()
	if got := apperr.CodeOf(err); got != code {
		t.Fatalf("got error %v (code %q), want code %q", err, got, code)
	}
	if got := apperr.ReasonOf(err); got != reason {
		t.Errorf("got reason %q, want %q", got, reason)
	}
}

func TestStore_Reserve(t *testing.T) {
	t.Parallel()

	t.Run("prices lines from the products and totals them", func(t *testing.T) {
		t.Parallel()
		s := newStore()
		r := reserve(t, s, "ord-1", inventory.Item{ProductID: "a", Quantity: 3}, inventory.Item{ProductID: "b", Quantity: 2})
		want := []inventory.Line{
			{ProductID: "a", Quantity: 3, UnitPrice: eur(250)},
			{ProductID: "b", Quantity: 2, UnitPrice: eur(1000)},
		}
		if !slices.Equal(r.Lines, want) {
			t.Errorf("got lines %+v, want %+v", r.Lines, want)
		}
		if r.Total != eur(2750) {
			t.Errorf("got total %+v, want %+v", r.Total, eur(2750))
		}
		if r.State != inventory.Reserved || r.OrderID != "ord-1" {
			t.Errorf("got order %q in state %d, want ord-1 Reserved", r.OrderID, r.State)
		}
		wantAvailable(t, s, "a", 2)
		wantAvailable(t, s, "b", 0)
	})

	t.Run("all or nothing when the second item is short", func(t *testing.T) {
		t.Parallel()
		s := newStore()
		_, err := s.Reserve(context.Background(), "ord-1", []inventory.Item{{ProductID: "a", Quantity: 1}, {ProductID: "b", Quantity: 3}})
		wantErr(t, err, apperr.FailedPrecondition, inventory.ReasonOutOfStock)
		wantAvailable(t, s, "a", 5)
		wantAvailable(t, s, "b", 2)
		// Nothing was recorded either: the order can reserve what exists.
		reserve(t, s, "ord-1", inventory.Item{ProductID: "b", Quantity: 2})
		wantAvailable(t, s, "b", 0)
	})

	t.Run("unknown product reserves nothing", func(t *testing.T) {
		t.Parallel()
		s := newStore()
		_, err := s.Reserve(context.Background(), "ord-1", []inventory.Item{{ProductID: "a", Quantity: 1}, {ProductID: "zzz", Quantity: 1}})
		wantErr(t, err, apperr.NotFound, "")
		wantAvailable(t, s, "a", 5)
	})

	t.Run("a product listed twice cannot overdraw it", func(t *testing.T) {
		t.Parallel()
		// The Service rejects such a request, but the Store promises on
		// its own that Available never goes below zero.
		s := newStore()
		_, err := s.Reserve(context.Background(), "ord-1", []inventory.Item{{ProductID: "b", Quantity: 2}, {ProductID: "b", Quantity: 2}})
		wantErr(t, err, apperr.FailedPrecondition, inventory.ReasonOutOfStock)
		wantAvailable(t, s, "b", 2)
	})

	t.Run("idempotent by order id", func(t *testing.T) {
		t.Parallel()
		s := newStore()
		first := reserve(t, s, "ord-1", inventory.Item{ProductID: "a", Quantity: 2})
		// The repeat returns the first reservation, even with other items.
		again := reserve(t, s, "ord-1", inventory.Item{ProductID: "a", Quantity: 2})
		other := reserve(t, s, "ord-1", inventory.Item{ProductID: "b", Quantity: 1})
		for _, r := range []inventory.Reservation{again, other} {
			if !slices.Equal(r.Lines, first.Lines) || r.Total != first.Total {
				t.Errorf("repeat got lines %+v total %+v, want %+v total %+v", r.Lines, r.Total, first.Lines, first.Total)
			}
		}
		wantAvailable(t, s, "a", 3)
		wantAvailable(t, s, "b", 2)
	})

	t.Run("returned lines are a copy", func(t *testing.T) {
		t.Parallel()
		s := newStore()
		r := reserve(t, s, "ord-1", inventory.Item{ProductID: "a", Quantity: 2})
		r.Lines[0].Quantity = 5
		if _, err := s.Release(context.Background(), "ord-1"); err != nil {
			t.Fatalf("Release: %v", err)
		}
		wantAvailable(t, s, "a", 5)
	})
}

func TestStore_Commit(t *testing.T) {
	t.Parallel()

	t.Run("unknown order", func(t *testing.T) {
		t.Parallel()
		_, err := newStore().Commit(context.Background(), "ord-unknown")
		wantErr(t, err, apperr.FailedPrecondition, inventory.ReasonNotReserved)
	})

	t.Run("released order", func(t *testing.T) {
		t.Parallel()
		s := newStore()
		reserve(t, s, "ord-1", inventory.Item{ProductID: "a", Quantity: 1})
		if _, err := s.Release(context.Background(), "ord-1"); err != nil {
			t.Fatalf("Release: %v", err)
		}
		_, err := s.Commit(context.Background(), "ord-1")
		wantErr(t, err, apperr.FailedPrecondition, inventory.ReasonNotReserved)
		wantAvailable(t, s, "a", 5)
	})

	t.Run("twice is fine and keeps the stock sold", func(t *testing.T) {
		t.Parallel()
		s := newStore()
		reserve(t, s, "ord-1", inventory.Item{ProductID: "a", Quantity: 2})
		for i := range 2 {
			r, err := s.Commit(context.Background(), "ord-1")
			if err != nil {
				t.Fatalf("Commit #%d: %v", i+1, err)
			}
			if r.State != inventory.Committed {
				t.Errorf("Commit #%d: got state %d, want Committed", i+1, r.State)
			}
		}
		wantAvailable(t, s, "a", 3)
	})
}

func TestStore_Release(t *testing.T) {
	t.Parallel()

	t.Run("twice returns the stock once", func(t *testing.T) {
		t.Parallel()
		s := newStore()
		reserve(t, s, "ord-1", inventory.Item{ProductID: "a", Quantity: 2}, inventory.Item{ProductID: "b", Quantity: 1})
		for i := range 2 {
			r, err := s.Release(context.Background(), "ord-1")
			if err != nil {
				t.Fatalf("Release #%d: %v", i+1, err)
			}
			if r.State != inventory.Released {
				t.Errorf("Release #%d: got state %d, want Released", i+1, r.State)
			}
		}
		wantAvailable(t, s, "a", 5)
		wantAvailable(t, s, "b", 2)
	})

	t.Run("a committed reservation gets its stock back", func(t *testing.T) {
		t.Parallel()
		s := newStore()
		reserve(t, s, "ord-1", inventory.Item{ProductID: "a", Quantity: 4})
		if _, err := s.Commit(context.Background(), "ord-1"); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		wantAvailable(t, s, "a", 1)
		if _, err := s.Release(context.Background(), "ord-1"); err != nil {
			t.Fatalf("Release: %v", err)
		}
		wantAvailable(t, s, "a", 5)
	})

	t.Run("an order that never reserved cannot reserve later", func(t *testing.T) {
		t.Parallel()
		// Compensation that overtook a slow Reserve: the late Reserve
		// must not hold stock that nobody will release.
		s := newStore()
		if _, err := s.Release(context.Background(), "ord-1"); err != nil {
			t.Fatalf("Release: %v", err)
		}
		r, err := s.Reserve(context.Background(), "ord-1", []inventory.Item{{ProductID: "a", Quantity: 2}})
		if err != nil {
			t.Fatalf("Reserve after Release: %v", err)
		}
		if r.State != inventory.Released || len(r.Lines) != 0 {
			t.Errorf("got state %d with %d lines, want Released with none", r.State, len(r.Lines))
		}
		wantAvailable(t, s, "a", 5)
	})
}

func TestStore_Reserve_Concurrent(t *testing.T) {
	t.Parallel()
	const buyers, stock = 50, 10
	s := memstore.New([]inventory.Product{{ID: "hot", Name: "Hot item", Price: eur(100), Available: stock}})

	// A reader watches the stock while buyers race for it.
	stop := make(chan struct{})
	var negative atomic.Int64
	var watcher sync.WaitGroup
	watcher.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if p, err := s.GetProduct(context.Background(), "hot"); err == nil && p.Available < 0 {
				negative.Store(p.Available)
			}
		}
	})

	var ok, short, other atomic.Int64
	var wg sync.WaitGroup
	for i := range buyers {
		wg.Go(func() {
			_, err := s.Reserve(context.Background(), fmt.Sprintf("ord-%d", i), []inventory.Item{{ProductID: "hot", Quantity: 1}})
			switch {
			case err == nil:
				ok.Add(1)
			case apperr.ReasonOf(err) == inventory.ReasonOutOfStock:
				short.Add(1)
			default:
				other.Add(1)
			}
		})
	}
	wg.Wait()
	close(stop)
	watcher.Wait()

	if got := ok.Load(); got != stock {
		t.Errorf("got %d reservations, want %d", got, stock)
	}
	if got := short.Load(); got != buyers-stock {
		t.Errorf("got %d out-of-stock errors, want %d", got, buyers-stock)
	}
	if got := other.Load(); got != 0 {
		t.Errorf("got %d unexpected errors, want 0", got)
	}
	if got := negative.Load(); got != 0 {
		t.Errorf("saw available %d during the race, want never negative", got)
	}
	wantAvailable(t, s, "hot", 0)
}

func TestStore_ListProducts(t *testing.T) {
	t.Parallel()
	s := memstore.New(inventory.SeedCatalog())
	tests := []struct {
		name  string
		after string
		limit int
		want  []string
	}{
		{"from the start", "", 3, []string{"p-1001", "p-1002", "p-1003"}},
		{"after an id", "p-1003", 10, []string{"p-1004", "p-1005"}},
		{"after the last id", "p-1005", 10, []string{}},
		{"after an id that is not stored", "p-1002a", 1, []string{"p-1003"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			products, err := s.ListProducts(context.Background(), tt.after, tt.limit)
			if err != nil {
				t.Fatalf("ListProducts: %v", err)
			}
			got := make([]string, 0, len(products))
			for _, p := range products {
				got = append(got, p.ID)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
