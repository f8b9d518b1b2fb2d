package postgres_test

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/shopmesh/shopmesh/pkg/platform/postgres"
	"github.com/shopmesh/shopmesh/pkg/platform/postgres/pgtest"
)

// pgtest.Main also removes the Postgres container and checks for leaked
// goroutines.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var migrations = fstest.MapFS{
	"00001_items.sql": {Data: []byte(`-- +goose Up
CREATE TABLE items (id text PRIMARY KEY, qty bigint NOT NULL CHECK (qty >= 0));
-- +goose Down
DROP TABLE items;
`)},
	"00002_seed.sql": {Data: []byte(`-- +goose Up
INSERT INTO items VALUES ('a', 1);
-- +goose Down
DELETE FROM items;
`)},
}

func TestOpen_MigratesOnceUnderConcurrentStarts(t *testing.T) {
	dsn := pgtest.New(t)
	logger := slog.New(slog.DiscardHandler)
	const replicas = 4
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Go(func() {
			pool, err := postgres.Open(t.Context(), postgres.Config{DSN: dsn}, migrations, logger)
			if err == nil {
				pool.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	pool, err := postgres.Open(t.Context(), postgres.Config{DSN: dsn}, migrations, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM items").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("seed ran %d times, want once", n)
	}
}

func TestOpen_Errors(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	if _, err := postgres.Open(t.Context(), postgres.Config{}, migrations, logger); err == nil {
		t.Error("empty DSN: got nil error")
	}
	if _, err := postgres.Open(t.Context(), postgres.Config{DSN: "postgres://x:y@127.0.0.1:1/db", ConnectTimeout: 300_000_000}, migrations, logger); err == nil {
		t.Error("unreachable database: got nil error")
	}
}
