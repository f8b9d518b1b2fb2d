package postgres_test

import (
	"log/slog"
	"os"
	"testing"

	"github.com/shopmesh/shopmesh/pkg/platform/postgres"
	"github.com/shopmesh/shopmesh/pkg/platform/postgres/pgtest"

	"github.com/shopmesh/shopmesh/payment/internal/payment"
	"github.com/shopmesh/shopmesh/payment/internal/payment/storetest"
	pgstore "github.com/shopmesh/shopmesh/payment/internal/postgres"
)

// TestMain removes the Postgres container after the tests, then fails the
// package if a test left a goroutine behind (the Docker client's own idle
// connections aside).
// pgtest.Main also removes the Postgres container and checks for leaked
// goroutines.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// newStore returns a Store on a fresh database with payment's migrations.
func newStore(t *testing.T) payment.Store {
	t.Helper()
	pool, err := postgres.Open(t.Context(), postgres.Config{DSN: pgtest.New(t)}, pgstore.Migrations(), slog.New(slog.DiscardHandler))
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

func TestStore_Contract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, newStore)
}

func TestNew_NilPool(t *testing.T) {
	t.Parallel()
	if _, err := pgstore.New(nil); err == nil {
		t.Error("New(nil) returned no error")
	}
}
