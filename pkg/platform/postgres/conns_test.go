package postgres_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopmesh/shopmesh/pkg/platform/postgres"
	"github.com/shopmesh/shopmesh/pkg/platform/postgres/pgtest"
)

// open opens a migrated database of its own with cfg's pool settings.
func open(t *testing.T, cfg postgres.Config) *pgxpool.Pool {
	t.Helper()
	cfg.DSN = pgtest.New(t)
	pool, err := postgres.Open(t.Context(), cfg, migrations, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// backend returns the server process of the pool's one connection.
func backend(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var pid int
	if err := pool.QueryRow(t.Context(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatalf("backend pid: %v", err)
	}
	return pid
}

// has reports whether items holds id.
func has(t *testing.T, pool *pgxpool.Pool, id string) bool {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM items WHERE id = $1", id).Scan(&n); err != nil {
		t.Fatalf("read items: %v", err)
	}
	return n == 1
}

func TestOpen_OpensItsConnectionsBeforeReturning(t *testing.T) {
	pool := open(t, postgres.Config{MaxConns: 4})
	if got := pool.Stat().TotalConns(); got != 4 {
		t.Errorf("connections open when Open returned: %d, want 4 (MinConns defaults to MaxConns)", got)
	}
	pool = open(t, postgres.Config{MaxConns: 4, MinConns: 2})
	// At least: the migrations' connection may stay in the pool too.
	if got := pool.Stat().TotalConns(); got < 2 {
		t.Errorf("connections open when Open returned: %d, want at least MinConns 2", got)
	}
}

func TestOpen_StatementPastItsBudget(t *testing.T) {
	t.Run("one that ends within the grace keeps its connection and its work", func(t *testing.T) {
		pool := open(t, postgres.Config{MaxConns: 1, CancelGrace: 5 * time.Second})
		pid := backend(t, pool)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		_, err := pool.Exec(ctx, "INSERT INTO items SELECT 'late', 1 FROM pg_sleep(0.3)")
		if err != nil {
			t.Fatalf("a statement that ended within the grace: %v", err)
		}
		if !has(t, pool, "late") {
			t.Error("the statement's row is missing")
		}
		if got := backend(t, pool); got != pid {
			t.Errorf("the connection was replaced (backend %d, then %d): a budget that ran out cost a connection", pid, got)
		}
	})

	t.Run("one still running after the grace is stopped, and its connection given up", func(t *testing.T) {
		pool := open(t, postgres.Config{MaxConns: 1, CancelGrace: 50 * time.Millisecond})
		pid := backend(t, pool)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		_, err := pool.Exec(ctx, "INSERT INTO items SELECT 'stuck', 1 FROM pg_sleep(30)")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a statement past its budget and the grace: %v, want the deadline's error", err)
		}
		if got := backend(t, pool); got == pid {
			t.Error("the connection of a statement stopped mid-way is still in use")
		}
		// pgx's cancel request stops the statement on the server; until
		// then it runs on, and the row would appear when it ended.
		deadline := time.Now().Add(10 * time.Second)
		for {
			var running int
			if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&running); err != nil {
				t.Fatal(err)
			}
			if running == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the stopped statement's server process still runs after 10s")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if has(t, pool, "stuck") {
			t.Error("the stopped statement's row was written")
		}
	})
}

func TestInTx(t *testing.T) {
	pool := open(t, postgres.Config{MaxConns: 1})
	insert := func(id string) func(pgx.Tx) error {
		return func(tx pgx.Tx) error {
			_, err := tx.Exec(t.Context(), "INSERT INTO items VALUES ($1, 1)", id)
			return err
		}
	}

	t.Run("commits", func(t *testing.T) {
		if err := postgres.InTx(t.Context(), pool, insert("committed")); err != nil {
			t.Fatal(err)
		}
		if !has(t, pool, "committed") {
			t.Error("the committed row is missing")
		}
	})

	t.Run("rolls back when fn fails", func(t *testing.T) {
		boom := errors.New("boom")
		err := postgres.InTx(t.Context(), pool, func(tx pgx.Tx) error {
			if err := insert("failed")(tx); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx: %v, want fn's error", err)
		}
		if has(t, pool, "failed") {
			t.Error("the row of a failed transaction was committed")
		}
	})

	t.Run("rolls back when its context ends, and keeps the connection", func(t *testing.T) {
		pid := backend(t, pool)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
			if err := insert("gave-up")(tx); err != nil {
				return err
			}
			<-ctx.Done() // the budget runs out between statements
			return nil
		})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("InTx: %v, want the deadline's error", err)
		}
		if has(t, pool, "gave-up") {
			t.Error("a transaction whose context ended was committed")
		}
		if got := backend(t, pool); got != pid {
			t.Errorf("the connection was replaced (backend %d, then %d)", pid, got)
		}
	})
}
