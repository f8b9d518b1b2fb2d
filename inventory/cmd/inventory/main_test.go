package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shopmesh/shopmesh/inventory/internal/inventory"
	"github.com/shopmesh/shopmesh/inventory/internal/postgres"
	"github.com/shopmesh/shopmesh/pkg/platform/bootstrap"
	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"
	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle/runtest"
	platformpg "github.com/shopmesh/shopmesh/pkg/platform/postgres"
	"github.com/shopmesh/shopmesh/pkg/platform/postgres/pgtest"
	"github.com/shopmesh/shopmesh/pkg/platform/settings"
)

// pgtest.Main also removes the Postgres container and checks for leaked
// goroutines.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestReadConfig(t *testing.T) {
	t.Parallel()

	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		c, err := settings.Read(env(nil), readConfig)
		if err != nil {
			t.Fatalf("readConfig: %v", err)
		}
		if c.ReservationTTL != 15*time.Minute || c.SweepInterval != time.Minute {
			t.Errorf("got TTL %v and sweep interval %v, want 15m and 1m", c.ReservationTTL, c.SweepInterval)
		}
	})

	t.Run("the sweep interval follows a short TTL", func(t *testing.T) {
		t.Parallel()
		for ttl, want := range map[string]time.Duration{"30s": 3 * time.Second, "2s": time.Second} {
			c, err := settings.Read(env(map[string]string{"RESERVATION_TTL": ttl}), readConfig)
			if err != nil {
				t.Fatalf("readConfig: %v", err)
			}
			if c.SweepInterval != want {
				t.Errorf("TTL %s: got sweep interval %v, want %v", ttl, c.SweepInterval, want)
			}
		}
	})

	t.Run("invalid durations", func(t *testing.T) {
		t.Parallel()
		for _, kv := range []map[string]string{
			{"RESERVATION_TTL": "soon"},
			{"RESERVATION_TTL": "0s"},
			{"RESERVATION_TTL": "-1m"},
			{"RESERVATION_SWEEP_INTERVAL": "0s"},
			{"RESERVATION_SWEEP_INTERVAL": "often"},
		} {
			if _, err := settings.Read(env(kv), readConfig); err == nil {
				t.Errorf("%v: got no error", kv)
			}
		}
	})
}

// staleReservation seeds the catalog into the database at dsn and reserves
// qty of productID there for an order, as a replica did an hour ago.
func staleReservation(t *testing.T, dsn, productID string, qty int32) {
	t.Helper()
	pool, err := platformpg.Open(t.Context(), platformpg.Config{DSN: dsn}, postgres.Migrations(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	hourAgo := time.Now().Add(-time.Hour)
	store, err := postgres.New(pool, postgres.WithClock(func() time.Time { return hourAgo }))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Seed(t.Context(), inventory.SeedCatalog()); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Reserve(t.Context(), "ord-stale", []inventory.Item{{ProductID: productID, Quantity: qty}}); err != nil {
		t.Fatal(err)
	}
}

func TestRun_MissingDatabaseURL(t *testing.T) {
	t.Parallel()
	err := bootstrap.Run(t.Context(), service, []string{"inventory"}, env(map[string]string{
		"DEV_PLAINTEXT": "true", "PEER_TARGETS": "none=dns:///none:1",
		"LISTEN_ADDR": "127.0.0.1:0", "ADMIN_ADDR": "127.0.0.1:0",
	}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL is required") {
		t.Errorf("got %v, want an error saying DATABASE_URL is required", err)
	}
}

// TestRun starts the service on a database holding a reservation an hour
// old, waits until /readyz says ready, checks that the catalog is there and
// that the sweeper returned the stale reservation's stock, and stops it.
func TestRun(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	staleReservation(t, dsn, "p-1001", 3)
	ctx := t.Context()
	proc := runtest.Start(t, func(ctx context.Context, stdout io.Writer) error {
		return bootstrap.Run(ctx, service, []string{"inventory"}, env(map[string]string{
			"DATABASE_URL": dsn, "RESERVATION_TTL": "2s",
			"DEV_PLAINTEXT": "true", "PEER_TARGETS": "none=dns:///none:1",
			"LISTEN_ADDR": "127.0.0.1:0", "ADMIN_ADDR": "127.0.0.1:0",
			"PROPAGATION_DELAY": "0s",
		}), stdout)
	})
	if err := lifecycle.Probe(ctx, proc.AdminAddr); err != nil {
		t.Errorf("readiness: %v", err)
	}

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM products`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if want := len(inventory.SeedCatalog()); n != want {
		t.Errorf("got %d products in the database, want the %d of the seed catalog", n, want)
	}
	want := inventory.SeedCatalog()[0].Available
	var available int64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err := conn.QueryRow(ctx, `SELECT available FROM products WHERE id = 'p-1001'`).Scan(&available); err != nil {
			t.Fatal(err)
		}
		if available == want {
			break
		}
	}
	if available != want {
		t.Errorf("p-1001: got %d available 10s after start, want the stale reservation's stock back (%d)", available, want)
	}

	proc.Stop(t)
}
