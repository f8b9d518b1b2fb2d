package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
	"github.com/shopmesh/shopmesh/pkg/platform/postgres"
	"github.com/shopmesh/shopmesh/pkg/platform/postgres/pgtest"
)

func TestClassify_Table(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		err       error
		transient bool
	}{
		{"server shutting down (a restart)", &pgconn.PgError{Code: "57P01"}, true},
		{"server starting", &pgconn.PgError{Code: "57P03"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"serialization failure", fmt.Errorf("update: %w", &pgconn.PgError{Code: "40001"}), true},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, true},
		{"connection reset", fmt.Errorf("query: %w", &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}), true},
		{"unexpected EOF", fmt.Errorf("query: %w", io.ErrUnexpectedEOF), true},
		{"closed pool", errors.New("closed pool"), true},
		{"unique violation: a bug or a race the store handles", &pgconn.PgError{Code: "23505"}, false},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), false},
		{"cancelled", context.Canceled, false},
		{"already classified", apperr.New(apperr.NotFound, "no such order"), false},
		{"anything else", errors.New("scan: wrong type"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := postgres.Classify(tt.err)
			if tt.transient {
				if apperr.CodeOf(got) != apperr.Unavailable || !errors.Is(got, tt.err) {
					t.Errorf("Classify(%v) = %v, want an apperr Unavailable that keeps the cause", tt.err, got)
				}
				return
			}
			if got != tt.err { //nolint:errorlint // unchanged: the same error, not one that wraps it
				t.Errorf("Classify(%v) = %v, want it unchanged", tt.err, got)
			}
		})
	}
	if postgres.Classify(nil) != nil {
		t.Error("Classify(nil) is not nil")
	}
}

// TestClassify_RealFailures makes the failures a restart causes against a
// real server and checks each is classified Unavailable.
func TestClassify_RealFailures(t *testing.T) {
	dsn := pgtest.New(t)
	pool, err := postgres.Open(t.Context(), postgres.Config{DSN: dsn}, migrations, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer pool.Close()

	t.Run("the server ends the session (as a restart does)", func(t *testing.T) {
		ctx := t.Context()
		conn, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatalf("acquire: %v", err)
		}
		defer conn.Release()
		var pid int
		if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatalf("backend pid: %v", err)
		}
		if _, err := pool.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
			t.Fatalf("terminate backend: %v", err)
		}
		_, err = conn.Exec(ctx, "SELECT 1")
		if err == nil {
			t.Fatal("query on a terminated session succeeded")
		}
		if got := postgres.Classify(err); apperr.CodeOf(got) != apperr.Unavailable {
			t.Errorf("query on a terminated session: %v classified %q, want unavailable", err, apperr.CodeOf(got))
		}
	})

	t.Run("nothing listens (the server is down)", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		_ = l.Close()
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		u.Host = addr
		q := u.Query()
		q.Set("connect_timeout", "1")
		u.RawQuery = q.Encode()
		down, err := pgxpool.New(t.Context(), u.String())
		if err != nil {
			t.Fatal(err)
		}
		defer down.Close()
		err = down.Ping(t.Context())
		if got := postgres.Classify(err); apperr.CodeOf(got) != apperr.Unavailable {
			t.Errorf("ping with no server: %v classified %q, want unavailable", err, apperr.CodeOf(got))
		}
	})

	t.Run("the pool is closed (the process is stopping)", func(t *testing.T) {
		closed, err := pgxpool.New(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		closed.Close()
		_, err = closed.Exec(t.Context(), "SELECT 1")
		if got := postgres.Classify(err); apperr.CodeOf(got) != apperr.Unavailable {
			t.Errorf("query on a closed pool: %v classified %q, want unavailable", err, apperr.CodeOf(got))
		}
	})
}
