package postgres_test

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	platformpg "github.com/shopmesh/shopmesh/pkg/platform/postgres"
	"github.com/shopmesh/shopmesh/pkg/platform/postgres/pgtest"

	"github.com/shopmesh/shopmesh/order/internal/order"
	"github.com/shopmesh/shopmesh/order/internal/order/storetest"
	"github.com/shopmesh/shopmesh/order/internal/postgres"
)

// pgtest.Main also removes the Postgres container and checks for leaked
// goroutines.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// newStore returns a Store over a new, migrated database that is closed
// when the test ends.
func newStore(t *testing.T) order.Store {
	t.Helper()
	pool, err := platformpg.Open(context.WithoutCancel(t.Context()), platformpg.Config{DSN: pgtest.New(t), MaxConns: 30},
		postgres.Migrations(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(pool.Close)
	// Open every connection now: the saga suites place 20 orders at once,
	// each with 500ms to record it, and a busy machine running the race
	// detector can take longer than that to start 20 Postgres backends.
	conns := make([]*pgxpool.Conn, pool.Config().MaxConns)
	for i := range conns {
		if conns[i], err = pool.Acquire(t.Context()); err != nil {
			t.Fatalf("open connection %d: %v", i, err)
		}
	}
	for _, c := range conns {
		c.Release()
	}
	s, err := postgres.New(pool)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestStore_Contract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, newStore)
}

func TestStore_Saga(t *testing.T) {
	t.Parallel()
	storetest.RunSaga(t, newStore)
}

func TestNew_NilPool(t *testing.T) {
	t.Parallel()
	if _, err := postgres.New(nil); err == nil {
		t.Error("New(nil) returned no error")
	}
}
