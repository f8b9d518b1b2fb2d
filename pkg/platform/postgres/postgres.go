package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Config says where the database is and how to use it.
type Config struct {
	// DSN is a postgres:// URL or key=value string (DATABASE_URL).
	DSN string
	// MaxConns bounds the pool (default 10).
	MaxConns int32
	// ConnectTimeout bounds the wait for a database that is still starting
	// (default 30s).
	ConnectTimeout time.Duration
}

// Open connects, waits for the database within ConnectTimeout, applies the
// migrations in fsys (goose SQL files at its root) under an advisory lock,
// and returns the pool. The caller closes it.
func Open(ctx context.Context, cfg Config, migrations fs.FS, logger *slog.Logger) (*pgxpool.Pool, error) {
	if cfg.DSN == "" {
		return nil, errors.New("postgres: empty DSN")
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 10
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse DSN: %w", err)
	}
	pc.MaxConns = cfg.MaxConns
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: pool: %w", err)
	}
	if err := waitReady(ctx, pool, cfg.ConnectTimeout, logger); err != nil {
		pool.Close()
		return nil, err
	}
	if err := Migrate(ctx, pool, migrations, logger); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// waitReady pings until the database answers or the timeout passes, so a
// service started together with its database (compose, a test) does not
// fail for being first.
func waitReady(ctx context.Context, pool *pgxpool.Pool, timeout time.Duration, logger *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	wait := 100 * time.Millisecond
	for {
		pingCtx, pingCancel := context.WithTimeout(ctx, 2*time.Second)
		err := pool.Ping(pingCtx)
		pingCancel()
		if err == nil {
			return nil
		}
		logger.InfoContext(ctx, "waiting for the database", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return fmt.Errorf("postgres: not reachable within %v: %w", timeout, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// Migrate applies every pending migration in fsys. A session-level
// advisory lock serialises replicas that start at the same moment: the
// second waits, then finds nothing left to do.
func Migrate(ctx context.Context, pool *pgxpool.Pool, migrations fs.FS, logger *slog.Logger) error {
	// Poll for the lock every second (goose's default is 5s, which delays
	// every replica but the first by that much), for up to 5 minutes.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return fmt.Errorf("postgres: migration lock: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, migrations,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("postgres: apply migrations: %w", err)
	}
	for _, r := range results {
		logger.InfoContext(ctx, "migration applied", "source", r.Source.Path, "duration_ms", r.Duration.Milliseconds())
	}
	return nil
}

// Ready returns a readiness check that pings the pool within 2s: a service
// whose database does not answer is not ready.
func Ready(pool *pgxpool.Pool) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if err := pool.Ping(ctx); err != nil {
			return fmt.Errorf("database: %w", err)
		}
		return nil
	}
}
