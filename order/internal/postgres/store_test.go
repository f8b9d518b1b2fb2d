package postgres_test

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/shopmesh/shopmesh/pkg/platform/postgres/pgtest"

	platformpg "github.com/shopmesh/shopmesh/pkg/platform/postgres"

	"github.com/shopmesh/shopmesh/order/internal/order"
	"github.com/shopmesh/shopmesh/order/internal/order/storetest"
	"github.com/shopmesh/shopmesh/order/internal/postgres"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	if code == 0 {
		// Checked after the container is gone; the Docker client keeps
		// idle HTTP connections of its own.
		if err := goleak.Find(goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
			goleak.IgnoreTopFunction("internal/poll.runtime_pollWait")); err != nil {
			slog.Error("goroutine leak", "err", err)
			code = 1
		}
	}
	os.Exit(code)
}

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
