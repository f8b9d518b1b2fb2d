package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
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
	// MinConns is how many connections the pool opens before Open returns
	// and keeps open (default MaxConns). A connection opened under load
	// costs the database a process, an authentication and cold caches
	// just when it has the least CPU to spare: with pools that opened
	// their connections on demand (and the grace below), a few of the
	// orders offered at half the saturation rate right after a restart of
	// the stack still answered 504 (docs/deadlines.md, "A restart under
	// load").
	MinConns int32
	// CancelGrace is how long a statement whose context ends may still run
	// before its connection is given up (default 1s). pgx can only stop a
	// statement by closing its connection; a statement a few milliseconds
	// past its budget would then cost a new connection, and under load
	// each such reconnection made the next statements slower, so more
	// budgets ran out: the reconnections, not the load, kept a restarted
	// stack failing. A statement that ends within the grace keeps its
	// connection and returns what it did; one that does not is stopped as
	// before (a cancel request, the connection closed).
	CancelGrace time.Duration
	// ConnectTimeout bounds the wait for a database that is still starting
	// (default 30s).
	ConnectTimeout time.Duration
}

// Open connects, waits for the database within ConnectTimeout, applies the
// migrations in fsys (goose SQL files at its root) under an advisory lock,
// opens MinConns connections, and returns the pool. The caller closes it.
func Open(ctx context.Context, cfg Config, migrations fs.FS, logger *slog.Logger) (*pgxpool.Pool, error) {
	if cfg.DSN == "" {
		return nil, errors.New("postgres: empty DSN")
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 10
	}
	if cfg.MinConns == 0 {
		cfg.MinConns = cfg.MaxConns
	}
	if cfg.CancelGrace == 0 {
		cfg.CancelGrace = time.Second
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse DSN: %w", err)
	}
	pc.MaxConns = cfg.MaxConns
	pc.MinConns = min(cfg.MinConns, cfg.MaxConns)
	pc.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn(), DeadlineDelay: cfg.CancelGrace}
	}
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
	warm(ctx, pool, int(pc.MinConns), cfg.ConnectTimeout, logger)
	return pool, nil
}

// warm opens n connections at once and gives them back to the pool, so the
// service is ready with them (pgxpool would open them in the background,
// after the service said it was ready). A database that refuses some (too
// many connections) costs a warning, not the start: the pool opens them on
// demand then.
func warm(ctx context.Context, pool *pgxpool.Pool, n int, timeout time.Duration, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conns := make([]*pgxpool.Conn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { conns[i], errs[i] = pool.Acquire(ctx) })
	}
	wg.Wait()
	for _, c := range conns {
		if c != nil {
			c.Release()
		}
	}
	for _, err := range errs {
		if err != nil {
			logger.WarnContext(ctx, "database: fewer connections opened at start than asked for; the rest open on demand",
				"asked", n, "open", pool.Stat().TotalConns(), "err", err)
			return
		}
	}
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
