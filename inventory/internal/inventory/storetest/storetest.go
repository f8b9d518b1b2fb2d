// Package storetest is the contract of inventory.Store and
// inventory.Expirer as tests: one suite that every store's tests run, so
// the in-memory store of the unit tests and the Postgres store of
// production answer alike (STYLE.md: "one contract test runs against the
// Postgres and the in-memory store alike").
package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/inventory/internal/inventory"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// Store is what the suite tests: the store and its expiry port.
type Store interface {
	inventory.Store
	inventory.Expirer
}

// NewStore returns a store that shares nothing with any other, holds
// products, and lets a reservation expire ttl after Reserve made it.
type NewStore func(t *testing.T, products []inventory.Product, ttl time.Duration) Store

// ttl is the reservation TTL of the suite's stores. Tests move "now" past
// it by passing a later time to ReleaseExpired; nothing sleeps.
const ttl = time.Minute

// Run runs the contract against the stores newStore makes. Its subtests
// run in parallel, each on a store of its own.
func Run(t *testing.T, newStore NewStore) {
	t.Helper()
	s := suite{newStore: newStore}
	t.Run("ListProducts", s.testListProducts)
	t.Run("GetProduct", s.testGetProduct)
	t.Run("Reserve", s.testReserve)
	t.Run("Reserve concurrently", s.testReserveConcurrent)
	t.Run("Commit", s.testCommit)
	t.Run("Release", s.testRelease)
	t.Run("ReleaseExpired", s.testReleaseExpired)
	t.Run("CreateProduct", s.testCreateProduct)
	t.Run("SetStock", s.testSetStock)
}

type suite struct {
	newStore NewStore
}

func eur(minor int64) inventory.Money { return inventory.Money{Currency: "EUR", Minor: minor} }

// twoProducts returns a store with "a" (5 left at 2.50) and "b" (2 left at
// 10.00).
func (s suite) twoProducts(t *testing.T) Store {
	t.Helper()
	return s.newStore(t, []inventory.Product{
		{ID: "a", Name: "A", Price: eur(250), Available: 5},
		{ID: "b", Name: "B", Price: eur(1000), Available: 2},
	}, ttl)
}

// oneProduct returns a store with one product of the given stock at 1.00.
func (s suite) oneProduct(t *testing.T, id string, stock int64) Store {
	t.Helper()
	return s.newStore(t, []inventory.Product{{ID: id, Name: "Product " + id, Price: eur(100), Available: stock}}, ttl)
}

func item(id string, qty int32) inventory.Item { return inventory.Item{ProductID: id, Quantity: qty} }

// available returns a product's stock and fails the test if it cannot.
func available(t *testing.T, s Store, id string) int64 {
	t.Helper()
	p, err := s.GetProduct(t.Context(), id)
	if err != nil {
		t.Fatalf("GetProduct(%q): %v", id, err)
	}
	return p.Available
}

// wantAvailable fails the test unless product id has want units left.
func wantAvailable(t *testing.T, s Store, id string, want int64) {
	t.Helper()
	if got := available(t, s, id); got != want {
		t.Errorf("product %s: got %d available, want %d", id, got, want)
	}
}

// reserve reserves items for orderID and fails the test on error.
func reserve(t *testing.T, s Store, orderID string, items ...inventory.Item) inventory.Reservation {
	t.Helper()
	r, err := s.Reserve(t.Context(), orderID, items)
	if err != nil {
		t.Fatalf("Reserve(%q): %v", orderID, err)
	}
	return r
}

// commit commits orderID and fails the test on error.
func commit(t *testing.T, s Store, orderID string) inventory.Reservation {
	t.Helper()
	r, err := s.Commit(t.Context(), orderID)
	if err != nil {
		t.Fatalf("Commit(%q): %v", orderID, err)
	}
	return r
}

// release releases orderID and fails the test on error.
func release(t *testing.T, s Store, orderID string) inventory.Reservation {
	t.Helper()
	r, err := s.Release(t.Context(), orderID)
	if err != nil {
		t.Fatalf("Release(%q): %v", orderID, err)
	}
	return r
}

// stateOf returns the state of orderID's reservation, read through an
// idempotent Reserve (the Store has no getter for reservations).
func stateOf(t *testing.T, s Store, orderID string) inventory.State {
	t.Helper()
	return reserve(t, s, orderID, item("never-taken", 1)).State
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

// sweep calls ReleaseExpired as of at and fails the test on error.
func sweep(t *testing.T, s Store, at time.Time, limit int) int {
	t.Helper()
	n, err := s.ReleaseExpired(t.Context(), at, limit)
	if err != nil {
		t.Fatalf("ReleaseExpired(%v, %d): %v", at, limit, err)
	}
	return n
}

// afterTTL is a moment at which every reservation made so far has expired.
func afterTTL() time.Time { return time.Now().Add(ttl + time.Second) }

func ids(products []inventory.Product) []string {
	out := make([]string, 0, len(products))
	for _, p := range products {
		out = append(out, p.ID)
	}
	return out
}

func (s suite) testListProducts(t *testing.T) {
	t.Parallel()

	t.Run("pages in id order", func(t *testing.T) {
		t.Parallel()
		st := s.newStore(t, inventory.SeedCatalog(), ttl)
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
			{"limit 0", "", 0, []string{}},
		}
		for _, tt := range tests {
			products, err := st.ListProducts(t.Context(), tt.after, tt.limit)
			if err != nil {
				t.Fatalf("%s: ListProducts: %v", tt.name, err)
			}
			if got := ids(products); !slices.Equal(got, tt.want) {
				t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
			}
		}
	})

	t.Run("returns every field", func(t *testing.T) {
		t.Parallel()
		want := inventory.SeedCatalog()
		st := s.newStore(t, want, ttl)
		got, err := st.ListProducts(t.Context(), "", 100)
		if err != nil {
			t.Fatalf("ListProducts: %v", err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})

	t.Run("ids sort bytewise, as Go compares strings", func(t *testing.T) {
		t.Parallel()
		// A locale's collation would put "p-a" before "p-B" and ignore
		// the dash; paging tokens are compared as Go compares them.
		var products []inventory.Product
		for _, id := range []string{"p-a", "p-B", "p-9", "p-10", "P-1", "p_1"} {
			products = append(products, inventory.Product{ID: id, Name: id, Price: eur(100), Available: 1})
		}
		st := s.newStore(t, products, ttl)
		var got []string
		after := ""
		for range 10 { // bounded: a paging bug must not hang the test
			page, err := st.ListProducts(t.Context(), after, 2)
			if err != nil {
				t.Fatalf("ListProducts(%q, 2): %v", after, err)
			}
			if len(page) == 0 {
				break
			}
			got = append(got, ids(page)...)
			after = page[len(page)-1].ID
		}
		want := []string{"P-1", "p-10", "p-9", "p-B", "p-a", "p_1"}
		if !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
}

func (s suite) testGetProduct(t *testing.T) {
	t.Parallel()
	st := s.newStore(t, inventory.SeedCatalog(), ttl)

	t.Run("known product", func(t *testing.T) {
		p, err := st.GetProduct(t.Context(), "p-1003")
		if err != nil {
			t.Fatalf("GetProduct: %v", err)
		}
		want := inventory.Product{ID: "p-1003", Name: "Hand grinder", Price: eur(8900), Available: 25}
		if p != want {
			t.Errorf("got %+v, want %+v", p, want)
		}
	})
	t.Run("unknown product", func(t *testing.T) {
		_, err := st.GetProduct(t.Context(), "p-9999")
		wantErr(t, err, apperr.NotFound, "")
	})
}

func (s suite) testReserve(t *testing.T) {
	t.Parallel()

	t.Run("prices lines from the products and totals them", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		r := reserve(t, st, "ord-1", item("a", 3), item("b", 2))
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
		wantAvailable(t, st, "a", 2)
		wantAvailable(t, st, "b", 0)
	})

	t.Run("lines keep the order of the request", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		r := reserve(t, st, "ord-1", item("b", 1), item("a", 1))
		again := reserve(t, st, "ord-1", item("b", 1), item("a", 1))
		for _, got := range []inventory.Reservation{r, again} {
			if len(got.Lines) != 2 || got.Lines[0].ProductID != "b" || got.Lines[1].ProductID != "a" {
				t.Errorf("got lines %+v, want b then a", got.Lines)
			}
		}
	})

	t.Run("the whole stock can be reserved", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		reserve(t, st, "ord-1", item("a", 5))
		wantAvailable(t, st, "a", 0)
	})

	t.Run("out of stock names the product and takes nothing", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		_, err := st.Reserve(t.Context(), "ord-1", []inventory.Item{item("b", 3)})
		wantErr(t, err, apperr.FailedPrecondition, inventory.ReasonOutOfStock)
		var e *apperr.Error
		if errors.As(err, &e) && e.Metadata["product_id"] != "b" {
			t.Errorf("got metadata %v, want product_id b", e.Metadata)
		}
		wantAvailable(t, st, "b", 2)
	})

	t.Run("all or nothing when the second item is short", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		_, err := st.Reserve(t.Context(), "ord-1", []inventory.Item{item("a", 1), item("b", 3)})
		wantErr(t, err, apperr.FailedPrecondition, inventory.ReasonOutOfStock)
		wantAvailable(t, st, "a", 5)
		wantAvailable(t, st, "b", 2)
		// Nothing was recorded either: the order can reserve what exists.
		reserve(t, st, "ord-1", item("b", 2))
		wantAvailable(t, st, "b", 0)
	})

	t.Run("unknown product reserves nothing", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		_, err := st.Reserve(t.Context(), "ord-1", []inventory.Item{item("a", 1), item("zzz", 1)})
		wantErr(t, err, apperr.NotFound, "")
		wantAvailable(t, st, "a", 5)
		// Nothing was recorded: the order can still reserve.
		reserve(t, st, "ord-1", item("a", 1))
		wantAvailable(t, st, "a", 4)
	})

	t.Run("a product listed twice cannot overdraw it", func(t *testing.T) {
		t.Parallel()
		// The Service rejects such a request, but the Store promises on
		// its own that Available never goes below zero.
		st := s.twoProducts(t)
		_, err := st.Reserve(t.Context(), "ord-1", []inventory.Item{item("b", 2), item("b", 2)})
		wantErr(t, err, apperr.FailedPrecondition, inventory.ReasonOutOfStock)
		wantAvailable(t, st, "b", 2)
	})

	t.Run("mixed currencies reserve nothing", func(t *testing.T) {
		t.Parallel()
		st := s.newStore(t, []inventory.Product{
			{ID: "e", Name: "E", Price: eur(100), Available: 3},
			{ID: "u", Name: "U", Price: inventory.Money{Currency: "USD", Minor: 100}, Available: 3},
		}, ttl)
		_, err := st.Reserve(t.Context(), "ord-1", []inventory.Item{item("e", 1), item("u", 1)})
		wantErr(t, err, apperr.FailedPrecondition, inventory.ReasonMixedPricing)
		wantAvailable(t, st, "e", 3)
		wantAvailable(t, st, "u", 3)
	})

	t.Run("idempotent by order id", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		first := reserve(t, st, "ord-1", item("a", 2))
		// The repeat returns the first reservation, even with other items.
		again := reserve(t, st, "ord-1", item("a", 2))
		other := reserve(t, st, "ord-1", item("b", 1))
		for _, r := range []inventory.Reservation{again, other} {
			if !slices.Equal(r.Lines, first.Lines) || r.Total != first.Total || r.State != inventory.Reserved {
				t.Errorf("repeat got lines %+v total %+v state %d, want %+v total %+v Reserved", r.Lines, r.Total, r.State, first.Lines, first.Total)
			}
		}
		wantAvailable(t, st, "a", 3)
		wantAvailable(t, st, "b", 2)
	})

	t.Run("a repeat answers the current state", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		reserve(t, st, "ord-c", item("a", 1))
		commit(t, st, "ord-c")
		reserve(t, st, "ord-r", item("a", 1))
		release(t, st, "ord-r")
		if got := stateOf(t, st, "ord-c"); got != inventory.Committed {
			t.Errorf("committed order: repeat got state %d, want Committed", got)
		}
		// A released order id stays released: the repeat takes no stock.
		r := reserve(t, st, "ord-r", item("a", 1))
		if r.State != inventory.Released || len(r.Lines) != 1 || r.Total != eur(250) {
			t.Errorf("released order: repeat got state %d, lines %+v, total %+v; want Released with its line and total", r.State, r.Lines, r.Total)
		}
		wantAvailable(t, st, "a", 4)
	})

	t.Run("returned lines are a copy", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		r := reserve(t, st, "ord-1", item("a", 2))
		r.Lines[0].Quantity = 5
		release(t, st, "ord-1")
		wantAvailable(t, st, "a", 5)
	})
}

// testReserveConcurrent holds the invariant "stock never negative, nothing
// sold twice" (DESIGN.md, order flow) under races.
func (s suite) testReserveConcurrent(t *testing.T) {
	t.Parallel()

	t.Run("50 buyers for 10 units: exactly 10 reserve", func(t *testing.T) {
		t.Parallel()
		const buyers, stock = 50, 10
		st := s.oneProduct(t, "hot", stock)
		ctx := t.Context()

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
				if p, err := st.GetProduct(ctx, "hot"); err == nil && p.Available < 0 {
					negative.Store(p.Available)
				}
			}
		})

		var ok, short atomic.Int64
		var mu sync.Mutex
		var others []error
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range buyers {
			wg.Go(func() {
				<-start // line everyone up, so they really race
				_, err := st.Reserve(ctx, fmt.Sprintf("ord-%02d", i), []inventory.Item{item("hot", 1)})
				switch {
				case err == nil:
					ok.Add(1)
				case apperr.CodeOf(err) == apperr.FailedPrecondition && apperr.ReasonOf(err) == inventory.ReasonOutOfStock:
					short.Add(1)
				default:
					mu.Lock()
					others = append(others, err)
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		close(stop)
		watcher.Wait()

		t.Logf("%d buyers for %d units: %d reserved, %d out of stock, %d other errors; %d left",
			buyers, stock, ok.Load(), short.Load(), len(others), available(t, st, "hot"))
		if got := ok.Load(); got != stock {
			t.Errorf("got %d reservations, want %d", got, stock)
		}
		if got := short.Load(); got != buyers-stock {
			t.Errorf("got %d out-of-stock errors, want %d", got, buyers-stock)
		}
		if len(others) != 0 {
			t.Errorf("got %d unexpected errors, want 0; first: %v", len(others), others[0])
		}
		if got := negative.Load(); got != 0 {
			t.Errorf("saw available %d during the race, want never negative", got)
		}
		wantAvailable(t, st, "hot", 0)
	})

	t.Run("repeats of one order take the stock once", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		const repeats = 20
		results := make([]inventory.Reservation, repeats)
		errs := make([]error, repeats)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range repeats {
			wg.Go(func() {
				<-start
				results[i], errs[i] = st.Reserve(t.Context(), "ord-1", []inventory.Item{item("a", 2)})
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("Reserve #%d: %v", i, err)
			}
			if r := results[i]; r.State != inventory.Reserved || !slices.Equal(r.Lines, results[0].Lines) || r.Total != eur(500) {
				t.Errorf("Reserve #%d: got %+v, want the same reservation as #0, %+v", i, r, results[0])
			}
		}
		wantAvailable(t, st, "a", 3)
	})

	t.Run("orders over the same products in any order neither deadlock nor oversell", func(t *testing.T) {
		t.Parallel()
		// Each order takes one of x and one of y, listed in random order,
		// and every other order is released again at once: lock order
		// bugs show up as deadlocks, accounting bugs as wrong stock.
		const orders, stock = 40, 10
		st := s.newStore(t, []inventory.Product{
			{ID: "x", Name: "X", Price: eur(100), Available: stock},
			{ID: "y", Name: "Y", Price: eur(100), Available: stock},
		}, ttl)
		var kept atomic.Int64
		var mu sync.Mutex
		var failures []error
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range orders {
			wg.Go(func() {
				<-start
				items := []inventory.Item{item("x", 1), item("y", 1)}
				if rand.IntN(2) == 0 {
					items[0], items[1] = items[1], items[0]
				}
				id := fmt.Sprintf("ord-%02d", i)
				_, err := st.Reserve(t.Context(), id, items)
				if apperr.ReasonOf(err) == inventory.ReasonOutOfStock {
					return
				}
				if err == nil && i%2 == 1 {
					_, err = st.Release(t.Context(), id)
				} else if err == nil {
					kept.Add(1)
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		if len(failures) != 0 {
			t.Fatalf("got %d errors, want none; first: %v", len(failures), failures[0])
		}
		k := kept.Load()
		if k > stock {
			t.Errorf("kept %d reservations of %d units", k, stock)
		}
		wantAvailable(t, st, "x", stock-k)
		wantAvailable(t, st, "y", stock-k)
	})
}

func (s suite) testCommit(t *testing.T) {
	t.Parallel()

	t.Run("unknown order", func(t *testing.T) {
		t.Parallel()
		_, err := s.twoProducts(t).Commit(t.Context(), "ord-unknown")
		wantErr(t, err, apperr.FailedPrecondition, inventory.ReasonNotReserved)
	})

	t.Run("released order", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		reserve(t, st, "ord-1", item("a", 1))
		release(t, st, "ord-1")
		_, err := st.Commit(t.Context(), "ord-1")
		wantErr(t, err, apperr.FailedPrecondition, inventory.ReasonNotReserved)
		wantAvailable(t, st, "a", 5)
	})

	t.Run("twice is fine and keeps the stock sold", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		first := reserve(t, st, "ord-1", item("a", 2))
		for i := range 2 {
			r := commit(t, st, "ord-1")
			if r.State != inventory.Committed {
				t.Errorf("Commit #%d: got state %d, want Committed", i+1, r.State)
			}
			if !slices.Equal(r.Lines, first.Lines) || r.Total != first.Total {
				t.Errorf("Commit #%d: got lines %+v total %+v, want the reservation's %+v total %+v", i+1, r.Lines, r.Total, first.Lines, first.Total)
			}
		}
		wantAvailable(t, st, "a", 3)
	})

	t.Run("racing a release, it commits before it or not at all", func(t *testing.T) {
		t.Parallel()
		// Either order is an outcome: committed and then released (the
		// stock comes back, as for a cancellation), or released and the
		// commit refused. Never both refused, never the stock lost.
		st := s.twoProducts(t)
		const orders = 20
		for i := range orders {
			id := fmt.Sprintf("ord-race-%d", i)
			reserve(t, st, id, item("a", 1))
			start := make(chan struct{})
			var commitErr, releaseErr error
			var wg sync.WaitGroup
			wg.Go(func() { <-start; _, commitErr = st.Commit(t.Context(), id) })
			wg.Go(func() { <-start; _, releaseErr = st.Release(t.Context(), id) })
			close(start)
			wg.Wait()
			if releaseErr != nil {
				t.Fatalf("Release of %s: %v", id, releaseErr)
			}
			if commitErr != nil {
				wantErr(t, commitErr, apperr.FailedPrecondition, inventory.ReasonNotReserved)
			}
			if r := release(t, st, id); r.State != inventory.Released {
				t.Errorf("%s: state %d after the race, want Released", id, r.State)
			}
		}
		wantAvailable(t, st, "a", 5)
	})
}

func (s suite) testRelease(t *testing.T) {
	t.Parallel()

	t.Run("twice returns the stock once", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		reserve(t, st, "ord-1", item("a", 2), item("b", 1))
		for i := range 2 {
			if r := release(t, st, "ord-1"); r.State != inventory.Released {
				t.Errorf("Release #%d: got state %d, want Released", i+1, r.State)
			}
		}
		wantAvailable(t, st, "a", 5)
		wantAvailable(t, st, "b", 2)
	})

	t.Run("concurrent releases return the stock once", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		reserve(t, st, "ord-1", item("a", 2), item("b", 1))
		const releases = 20
		errs := make([]error, releases)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range releases {
			wg.Go(func() {
				<-start
				_, errs[i] = st.Release(t.Context(), "ord-1")
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("Release: %v", err)
		}
		wantAvailable(t, st, "a", 5)
		wantAvailable(t, st, "b", 2)
	})

	t.Run("a committed reservation gets its stock back", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		reserve(t, st, "ord-1", item("a", 4))
		commit(t, st, "ord-1")
		wantAvailable(t, st, "a", 1)
		release(t, st, "ord-1")
		wantAvailable(t, st, "a", 5)
		release(t, st, "ord-1")
		wantAvailable(t, st, "a", 5)
	})

	t.Run("an order that never reserved cannot reserve later", func(t *testing.T) {
		t.Parallel()
		// Compensation that overtook a slow Reserve: the late Reserve
		// must not hold stock that nobody will release.
		st := s.twoProducts(t)
		if r := release(t, st, "ord-1"); r.State != inventory.Released || len(r.Lines) != 0 {
			t.Errorf("Release of an unknown order: got state %d with %d lines, want Released with none", r.State, len(r.Lines))
		}
		r := reserve(t, st, "ord-1", item("a", 2))
		if r.State != inventory.Released || len(r.Lines) != 0 {
			t.Errorf("got state %d with %d lines, want Released with none", r.State, len(r.Lines))
		}
		wantAvailable(t, st, "a", 5)
		release(t, st, "ord-1")
		wantAvailable(t, st, "a", 5)
	})

	t.Run("a release racing a reserve of the same order leaves no stock held", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		const orders = 20
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make([]error, 2*orders)
		for i := range orders {
			id := fmt.Sprintf("ord-%02d", i)
			wg.Go(func() {
				<-start
				_, err := st.Reserve(t.Context(), id, []inventory.Item{item("a", 1)})
				if apperr.ReasonOf(err) != inventory.ReasonOutOfStock {
					errs[2*i] = err
				}
			})
			wg.Go(func() {
				<-start
				_, errs[2*i+1] = st.Release(t.Context(), id)
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("got errors: %v", err)
		}
		// Whichever came first, every order ends released with its stock
		// back: a Reserve after the Release finds the order released.
		for i := range orders {
			id := fmt.Sprintf("ord-%02d", i)
			if got := release(t, st, id).State; got != inventory.Released {
				t.Errorf("order %s: got state %d, want Released", id, got)
			}
		}
		wantAvailable(t, st, "a", 5)
	})
}

func (s suite) testReleaseExpired(t *testing.T) {
	t.Parallel()

	t.Run("a reservation older than the TTL is released by one sweep", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		reserve(t, st, "ord-1", item("a", 2), item("b", 1))
		if n := sweep(t, st, afterTTL(), 100); n != 1 {
			t.Errorf("got %d released, want 1", n)
		}
		wantAvailable(t, st, "a", 5)
		wantAvailable(t, st, "b", 2)
		if got := stateOf(t, st, "ord-1"); got != inventory.Released {
			t.Errorf("got state %d, want Released", got)
		}
		_, err := st.Commit(t.Context(), "ord-1")
		wantErr(t, err, apperr.FailedPrecondition, inventory.ReasonNotReserved)
		// Neither a second sweep nor a Release returns the stock again.
		if n := sweep(t, st, afterTTL(), 100); n != 0 {
			t.Errorf("second sweep: got %d released, want 0", n)
		}
		release(t, st, "ord-1")
		wantAvailable(t, st, "a", 5)
		wantAvailable(t, st, "b", 2)
	})

	t.Run("a reservation within its TTL is untouched", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		reserve(t, st, "ord-1", item("a", 2))
		if n := sweep(t, st, time.Now().Add(ttl/2), 100); n != 0 {
			t.Errorf("got %d released, want 0", n)
		}
		wantAvailable(t, st, "a", 3)
		if got := stateOf(t, st, "ord-1"); got != inventory.Reserved {
			t.Errorf("got state %d, want Reserved", got)
		}
	})

	t.Run("a repeated Reserve holds the reservation for another TTL", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		reserve(t, st, "ord-1", item("a", 2))
		firstDone := time.Now() // the first expiry is at or before firstDone + ttl
		time.Sleep(100 * time.Millisecond)
		reserve(t, st, "ord-1", item("a", 2)) // renewed to at least firstDone + 100ms + ttl
		if n := sweep(t, st, firstDone.Add(ttl+50*time.Millisecond), 100); n != 0 {
			t.Errorf("a sweep after the first TTL but within the renewed one released %d, want 0", n)
		}
		if n := sweep(t, st, afterTTL().Add(time.Second), 100); n != 1 {
			t.Errorf("a sweep after the renewed TTL released %d, want 1", n)
		}
		wantAvailable(t, st, "a", 5)
	})

	t.Run("committed and released reservations are untouched", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		reserve(t, st, "ord-c", item("a", 2))
		commit(t, st, "ord-c")
		reserve(t, st, "ord-r", item("a", 1))
		release(t, st, "ord-r")
		release(t, st, "ord-never")
		if n := sweep(t, st, afterTTL(), 100); n != 0 {
			t.Errorf("got %d released, want 0", n)
		}
		wantAvailable(t, st, "a", 3)
		if got := stateOf(t, st, "ord-c"); got != inventory.Committed {
			t.Errorf("got state %d, want Committed", got)
		}
	})

	t.Run("a sweep releases at most limit", func(t *testing.T) {
		t.Parallel()
		st := s.oneProduct(t, "p", 10)
		for i := range 3 {
			reserve(t, st, fmt.Sprintf("ord-%d", i), item("p", 1))
		}
		at := afterTTL()
		for i, want := range []int{2, 1, 0} {
			if n := sweep(t, st, at, 2); n != want {
				t.Errorf("sweep #%d: got %d released, want %d", i+1, n, want)
			}
		}
		if n := sweep(t, st, at, 0); n != 0 {
			t.Errorf("limit 0: got %d released, want 0", n)
		}
		wantAvailable(t, st, "p", 10)
	})

	t.Run("concurrent sweepers release each reservation once", func(t *testing.T) {
		t.Parallel()
		// Two sweepers (replicas) at once: every reservation is released
		// by exactly one of them, and its stock counted once.
		const orders, sweepers = 30, 2
		st := s.oneProduct(t, "p", orders)
		for i := range orders {
			reserve(t, st, fmt.Sprintf("ord-%02d", i), item("p", 1))
		}
		wantAvailable(t, st, "p", 0)
		at := afterTTL()
		released := make([]int, sweepers)
		errs := make([]error, sweepers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range sweepers {
			wg.Go(func() {
				<-start
				for {
					n, err := st.ReleaseExpired(t.Context(), at, 4)
					released[i] += n
					if err != nil || n == 0 {
						errs[i] = err
						return
					}
				}
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("ReleaseExpired: %v", err)
		}
		t.Logf("sweepers released %v", released)
		if got := released[0] + released[1]; got != orders {
			t.Errorf("sweepers released %v, %d in all, want %d", released, got, orders)
		}
		wantAvailable(t, st, "p", orders)
	})

	t.Run("sweeps racing commits return only uncommitted stock", func(t *testing.T) {
		t.Parallel()
		const orders = 20
		st := s.oneProduct(t, "p", orders)
		for i := range orders {
			reserve(t, st, fmt.Sprintf("ord-%02d", i), item("p", 1))
		}
		at := afterTTL()
		start := make(chan struct{})
		var wg sync.WaitGroup
		commitErrs := make([]error, orders)
		for i := range orders {
			wg.Go(func() {
				<-start
				_, commitErrs[i] = st.Commit(t.Context(), fmt.Sprintf("ord-%02d", i))
			})
		}
		var sweepErr error
		wg.Go(func() {
			<-start
			for {
				n, err := st.ReleaseExpired(t.Context(), at, 3)
				if err != nil || n == 0 {
					sweepErr = err
					return
				}
			}
		})
		close(start)
		wg.Wait()
		if sweepErr != nil {
			t.Fatalf("ReleaseExpired: %v", sweepErr)
		}
		// Each order either committed first (and stays sold) or was
		// released first (and its Commit failed): never both, never none.
		committed := 0
		for i, err := range commitErrs {
			id := fmt.Sprintf("ord-%02d", i)
			state := stateOf(t, st, id)
			switch {
			case err == nil && state == inventory.Committed:
				committed++
			case apperr.ReasonOf(err) == inventory.ReasonNotReserved && state == inventory.Released:
			default:
				t.Errorf("order %s: Commit returned %v, state is %d", id, err, state)
			}
		}
		t.Logf("%d of %d orders committed before the sweep reached them", committed, orders)
		wantAvailable(t, st, "p", int64(orders-committed))
	})
}

func (s suite) testCreateProduct(t *testing.T) {
	t.Parallel()
	jug := inventory.Product{ID: "jug", Name: "Milk jug", Price: eur(1500), Available: 10}

	t.Run("a new product can be read, listed and reserved", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		got, err := st.CreateProduct(t.Context(), jug)
		if err != nil {
			t.Fatalf("CreateProduct: %v", err)
		}
		if got != jug {
			t.Errorf("CreateProduct returned %+v, want %+v", got, jug)
		}
		if p, err := st.GetProduct(t.Context(), "jug"); err != nil || p != jug {
			t.Errorf("GetProduct = %+v, %v; want %+v", p, err, jug)
		}
		listed, err := st.ListProducts(t.Context(), "", 10)
		if err != nil {
			t.Fatalf("ListProducts: %v", err)
		}
		if got, want := ids(listed), []string{"a", "b", "jug"}; !slices.Equal(got, want) {
			t.Errorf("listed %v, want %v", got, want)
		}
		reserve(t, st, "ord-1", item("jug", 4))
		wantAvailable(t, st, "jug", 6)
	})

	t.Run("a repeat returns the stored product, stock taken since included", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		if _, err := st.CreateProduct(t.Context(), jug); err != nil {
			t.Fatalf("CreateProduct: %v", err)
		}
		reserve(t, st, "ord-1", item("jug", 3))
		got, err := st.CreateProduct(t.Context(), jug)
		if err != nil {
			t.Fatalf("repeated CreateProduct: %v, want no error", err)
		}
		want := jug
		want.Available = 7
		if got != want {
			t.Errorf("repeat returned %+v, want %+v", got, want)
		}
		wantAvailable(t, st, "jug", 7)
	})

	t.Run("the id taken with other fields is a conflict that changes nothing", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		if _, err := st.CreateProduct(t.Context(), jug); err != nil {
			t.Fatalf("CreateProduct: %v", err)
		}
		tests := []struct {
			name   string
			change func(p *inventory.Product)
		}{
			{"other name", func(p *inventory.Product) { p.Name = "Cream jug" }},
			{"other price", func(p *inventory.Product) { p.Price.Minor++ }},
			{"other currency", func(p *inventory.Product) { p.Price.Currency = "USD" }},
			{"other stock", func(p *inventory.Product) { p.Available++ }},
		}
		for _, tt := range tests {
			p := jug
			tt.change(&p)
			_, err := st.CreateProduct(t.Context(), p)
			if got := apperr.CodeOf(err); got != apperr.Conflict {
				t.Errorf("%s: got error %v (code %q), want code %q", tt.name, err, got, apperr.Conflict)
			}
		}
		if p, err := st.GetProduct(t.Context(), "jug"); err != nil || p != jug {
			t.Errorf("after the conflicts GetProduct = %+v, %v; want %+v", p, err, jug)
		}
	})

	t.Run("a seeded product counts as created with its seed", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		a := inventory.Product{ID: "a", Name: "A", Price: eur(250), Available: 5}
		if got, err := st.CreateProduct(t.Context(), a); err != nil || got != a {
			t.Errorf("CreateProduct(seeded a) = %+v, %v; want %+v", got, err, a)
		}
		a.Name = "Other"
		_, err := st.CreateProduct(t.Context(), a)
		wantErr(t, err, apperr.Conflict, "")
	})

	t.Run("concurrent creates of one id: one product, clashing ones fail", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		const creators = 20
		other := jug
		other.Name = "Cream jug"
		var mu sync.Mutex
		var errs []error
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range creators {
			wg.Go(func() {
				<-start
				_, err := st.CreateProduct(t.Context(), jug)
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				if i == 0 { // one clashing create among identical ones
					_, err := st.CreateProduct(t.Context(), other)
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		p, err := st.GetProduct(t.Context(), "jug")
		if err != nil {
			t.Fatalf("GetProduct: %v", err)
		}
		// Whichever fields won, every create with the other fields failed
		// with Conflict and every create with the winning ones succeeded.
		winner := jug
		if p.Name == other.Name {
			winner = other
		}
		if p != winner {
			t.Errorf("stored %+v, want %+v", p, winner)
		}
		var ok, conflicts int
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case apperr.CodeOf(err) == apperr.Conflict:
				conflicts++
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		if winner == jug && (ok != creators || conflicts != 1) || winner == other && (ok != 1 || conflicts != creators) {
			t.Errorf("got %d successes and %d conflicts, winner %q", ok, conflicts, winner.Name)
		}
	})
}

func (s suite) testSetStock(t *testing.T) {
	t.Parallel()

	t.Run("sets available and returns the product", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		for _, n := range []int64{9, 0, 3} {
			p, err := st.SetStock(t.Context(), "a", n)
			if err != nil {
				t.Fatalf("SetStock(a, %d): %v", n, err)
			}
			want := inventory.Product{ID: "a", Name: "A", Price: eur(250), Available: n}
			if p != want {
				t.Errorf("SetStock(a, %d) returned %+v, want %+v", n, p, want)
			}
			wantAvailable(t, st, "a", n)
		}
		wantAvailable(t, st, "b", 2)
	})

	t.Run("a repeat changes nothing", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		for range 2 {
			if _, err := st.SetStock(t.Context(), "a", 8); err != nil {
				t.Fatalf("SetStock: %v", err)
			}
		}
		wantAvailable(t, st, "a", 8)
	})

	t.Run("unknown product", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		_, err := st.SetStock(t.Context(), "nope", 1)
		wantErr(t, err, apperr.NotFound, "")
	})

	t.Run("sets the available count, not the total: reserved units come back on top", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		reserve(t, st, "ord-1", item("a", 3))
		if _, err := st.SetStock(t.Context(), "a", 10); err != nil {
			t.Fatalf("SetStock: %v", err)
		}
		wantAvailable(t, st, "a", 10)
		release(t, st, "ord-1")
		wantAvailable(t, st, "a", 13)
	})

	t.Run("zero stock makes reservations fail", func(t *testing.T) {
		t.Parallel()
		st := s.twoProducts(t)
		if _, err := st.SetStock(t.Context(), "b", 0); err != nil {
			t.Fatalf("SetStock: %v", err)
		}
		_, err := st.Reserve(t.Context(), "ord-1", []inventory.Item{item("b", 1)})
		wantErr(t, err, apperr.FailedPrecondition, inventory.ReasonOutOfStock)
	})

	t.Run("racing reservations neither oversell nor go negative", func(t *testing.T) {
		t.Parallel()
		const buyers, stock, restock = 30, 10, 5
		st := s.oneProduct(t, "hot", stock)
		var ok atomic.Int64
		var mu sync.Mutex
		var others []error
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range buyers {
			wg.Go(func() {
				<-start
				_, err := st.Reserve(t.Context(), fmt.Sprintf("ord-%02d", i), []inventory.Item{item("hot", 1)})
				switch {
				case err == nil:
					ok.Add(1)
				case apperr.ReasonOf(err) == inventory.ReasonOutOfStock:
				default:
					mu.Lock()
					others = append(others, err)
					mu.Unlock()
				}
			})
		}
		wg.Go(func() {
			<-start
			if _, err := st.SetStock(t.Context(), "hot", restock); err != nil {
				mu.Lock()
				others = append(others, err)
				mu.Unlock()
			}
		})
		close(start)
		wg.Wait()
		if len(others) != 0 {
			t.Fatalf("got %d unexpected errors, want 0; first: %v", len(others), others[0])
		}
		// If k reservations came before the new count, the rest were
		// taken from it: ok = k + (restock - left), with 0 <= k <= stock.
		left := available(t, st, "hot")
		if left < 0 || left > restock {
			t.Errorf("got %d left, want 0..%d", left, restock)
		}
		if k := ok.Load() - (restock - left); k < 0 || k > stock {
			t.Errorf("got %d reservations and %d left: %d before the new count, want 0..%d", ok.Load(), left, k, stock)
		}
	})
}
