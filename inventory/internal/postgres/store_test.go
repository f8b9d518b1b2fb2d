package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopmesh/shopmesh/inventory/internal/inventory"
	"github.com/shopmesh/shopmesh/inventory/internal/inventory/storetest"
	"github.com/shopmesh/shopmesh/inventory/internal/postgres"
	platformpg "github.com/shopmesh/shopmesh/pkg/platform/postgres"
	"github.com/shopmesh/shopmesh/pkg/platform/postgres/pgtest"
)

// pgtest.Main also removes the Postgres container and checks for leaked
// goroutines.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// open opens a pool on dsn the way the service does (migrations included)
// and closes it when the test ends. The pool is large enough for every
// buyer of the concurrency test to hold a connection at once.
func open(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := platformpg.Open(t.Context(), platformpg.Config{DSN: dsn, MaxConns: 60}, postgres.Migrations(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// newStore returns a store over pool holding products.
func newStore(t *testing.T, pool *pgxpool.Pool, products []inventory.Product, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	s, err := postgres.New(pool, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Seed(t.Context(), products); err != nil {
		t.Fatalf("Seed: %v", err)
	}
	return s
}

// TestStore runs the store contract that the in-memory store keeps too,
// each case on a database of its own.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, products []inventory.Product, ttl time.Duration) storetest.Store {
		return newStore(t, open(t, pgtest.New(t)), products, postgres.WithTTL(ttl))
	})
}

func TestNew_Invalid(t *testing.T) {
	t.Parallel()
	if _, err := postgres.New(nil); err == nil {
		t.Error("New(nil) returned no error")
	}
	// A pool that never connects: New must not need the database.
	pool, err := pgxpool.New(t.Context(), "postgres://nobody@127.0.0.1:1/none")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for _, d := range []time.Duration{0, -time.Second} {
		if _, err := postgres.New(pool, postgres.WithTTL(d)); err == nil {
			t.Errorf("New with TTL %v returned no error", d)
		}
	}
	if _, err := postgres.New(pool, postgres.WithClock(nil)); err == nil {
		t.Error("New with a nil clock returned no error")
	}
}

func TestStore_Seed(t *testing.T) {
	t.Parallel()
	pool := open(t, pgtest.New(t))
	ctx := t.Context()
	s := newStore(t, pool, inventory.SeedCatalog())
	if _, err := s.Reserve(ctx, "ord-1", []inventory.Item{{ProductID: "p-1001", Quantity: 7}}); err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	// A restart seeds again: existing products keep their stock and name.
	changed := inventory.SeedCatalog()
	changed[0].Name, changed[0].Available = "renamed", 1
	changed = append(changed, inventory.Product{ID: "p-2000", Name: "New", Price: inventory.Money{Currency: "EUR", Minor: 1}, Available: 3})
	if err := s.Seed(ctx, changed); err != nil {
		t.Fatalf("Seed again: %v", err)
	}
	p, err := s.GetProduct(ctx, "p-1001")
	if err != nil {
		t.Fatalf("GetProduct: %v", err)
	}
	if want := inventory.SeedCatalog()[0]; p.Name != want.Name || p.Available != want.Available-7 {
		t.Errorf("after a second seed got %q with %d available, want %q with %d", p.Name, p.Available, want.Name, want.Available-7)
	}
	if _, err := s.GetProduct(ctx, "p-2000"); err != nil {
		t.Errorf("a product new to the seed was not added: %v", err)
	}
}

// TestSchema_StockNeverNegative checks the last line of defence: even a
// statement that skips every check in the store cannot commit a negative
// stock.
func TestSchema_StockNeverNegative(t *testing.T) {
	t.Parallel()
	pool := open(t, pgtest.New(t))
	newStore(t, pool, []inventory.Product{{ID: "a", Name: "A", Price: inventory.Money{Currency: "EUR", Minor: 1}, Available: 1}})
	_, err := pool.Exec(t.Context(), `UPDATE products SET available = available - 2 WHERE id = 'a'`)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23514" {
		t.Fatalf("got %v, want a check violation (23514)", err)
	}
}

// TestStore_Replicas runs two replicas against one database, as in
// production: migrations, seeding, reservations and sweeps from both at
// once.
func TestStore_Replicas(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	const replicas, stock = 2, 20
	catalog := []inventory.Product{{ID: "p", Name: "P", Price: inventory.Money{Currency: "EUR", Minor: 100}, Available: stock}}

	// Both start together: migrate under the advisory lock, seed.
	stores := make([]*postgres.Store, replicas)
	pools := make([]*pgxpool.Pool, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			pool, err := platformpg.Open(context.Background(), platformpg.Config{DSN: dsn}, postgres.Migrations(), slog.New(slog.DiscardHandler))
			if err != nil {
				errs[i] = err
				return
			}
			pools[i] = pool
			s, err := postgres.New(pool)
			if err == nil {
				err = s.Seed(context.Background(), catalog)
			}
			stores[i], errs[i] = s, err
		})
	}
	wg.Wait()
	for _, p := range pools {
		if p != nil {
			t.Cleanup(p.Close)
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("start: %v", err)
	}
	available := func() int64 {
		t.Helper()
		p, err := stores[0].GetProduct(t.Context(), "p")
		if err != nil {
			t.Fatalf("GetProduct: %v", err)
		}
		return p.Available
	}
	if got := available(); got != stock {
		t.Fatalf("after two seeds got %d available, want %d", got, stock)
	}

	// Each order is reserved through both replicas at once: one holds.
	for i := range stock {
		for _, s := range stores {
			wg.Go(func() {
				if _, err := s.Reserve(context.Background(), fmt.Sprintf("ord-%02d", i), []inventory.Item{{ProductID: "p", Quantity: 1}}); err != nil {
					t.Errorf("Reserve: %v", err)
				}
			})
		}
	}
	wg.Wait()
	if got := available(); got != 0 {
		t.Fatalf("after %d orders reserved twice each got %d available, want 0", stock, got)
	}

	// Both replicas' sweepers run at once: each reservation is released
	// once and the stock comes back once.
	later := time.Now().Add(inventory.DefaultReservationTTL + time.Minute)
	released := make([]int, replicas)
	for i, s := range stores {
		sw, err := inventory.NewSweeper(s, inventory.WithSweepBatch(3), inventory.WithSweepClock(func() time.Time { return later }))
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			released[i], errs[i] = sw.Sweep(context.Background())
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	t.Logf("replicas released %v", released)
	if got := released[0] + released[1]; got != stock {
		t.Errorf("replicas released %v, %d in all, want %d", released, got, stock)
	}
	if got := available(); got != stock {
		t.Errorf("after the sweeps got %d available, want %d", got, stock)
	}
}
