// Command inventory serves the catalog and stock over gRPC.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/shopmesh/shopmesh/pkg/api"
	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/bootstrap"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"
	platformpg "github.com/shopmesh/shopmesh/pkg/platform/postgres"

	"github.com/shopmesh/shopmesh/inventory/internal/grpcapi"
	"github.com/shopmesh/shopmesh/inventory/internal/inventory"
	"github.com/shopmesh/shopmesh/inventory/internal/postgres"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "inventory:", err)
		os.Exit(1)
	}
}

// config is inventory's own configuration, beside bootstrap.Config.
type config struct {
	DatabaseURL string // DATABASE_URL: the inventory database (postgres:// URL), required
	// ReservationTTL (RESERVATION_TTL, default 15m) is how long stock stays
	// reserved for an order that neither commits nor releases it.
	ReservationTTL time.Duration
	// SweepInterval (RESERVATION_SWEEP_INTERVAL) is the time between two
	// sweeps for expired reservations; default a tenth of the TTL, at
	// least 1s and at most 1m.
	SweepInterval time.Duration
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{DatabaseURL: getenv("DATABASE_URL")}
	var errs []error
	var err error
	if c.ReservationTTL, err = bootstrap.ParseDuration(getenv("RESERVATION_TTL"), inventory.DefaultReservationTTL); err != nil {
		errs = append(errs, fmt.Errorf("RESERVATION_TTL: %w", err))
	}
	defaultInterval := min(max(c.ReservationTTL/10, time.Second), time.Minute)
	if c.SweepInterval, err = bootstrap.ParseDuration(getenv("RESERVATION_SWEEP_INTERVAL"), defaultInterval); err != nil {
		errs = append(errs, fmt.Errorf("RESERVATION_SWEEP_INTERVAL: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return config{}, err
	}
	return c, c.Validate()
}

// Validate checks the settings.
func (c config) Validate() error {
	var errs []error
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("DATABASE_URL is required (e.g. postgres://inventory:secret@postgres:5432/inventory)"))
	}
	if c.ReservationTTL <= 0 {
		errs = append(errs, fmt.Errorf("RESERVATION_TTL %v: must be positive", c.ReservationTTL))
	}
	if c.SweepInterval <= 0 {
		errs = append(errs, fmt.Errorf("RESERVATION_SWEEP_INTERVAL %v: must be positive", c.SweepInterval))
	}
	return errors.Join(errs...)
}

// run wires the service from its environment and serves until ctx ends or
// a signal arrives. Tests call it directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if lifecycle.IsProbe(args) {
		return lifecycle.Probe(ctx, getenv("ADMIN_ADDR"))
	}
	cfg, err := bootstrap.LoadConfig("inventory", getenv)
	if err != nil {
		return err
	}
	own, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("config of inventory: %w", err)
	}
	p, err := bootstrap.Start(ctx, cfg, bootstrap.API{Budgets: api.Budgets, Idempotent: api.Idempotent}, stdout, getenv)
	if err != nil {
		return err
	}
	app, err := wire(ctx, p, own)
	if err != nil {
		p.Abort(ctx)
		return err
	}
	return lifecycle.Run(ctx, app)
}

// wire opens the database, builds the domain over it and returns the app.
// On error it closes what it opened; the caller aborts the process.
func wire(ctx context.Context, p *bootstrap.Process, own config) (_ lifecycle.App, err error) {
	pool, err := platformpg.Open(ctx, platformpg.Config{DSN: own.DatabaseURL}, postgres.Migrations(), p.Logger)
	if err != nil {
		return lifecycle.App{}, fmt.Errorf("inventory database: %w", err)
	}
	defer func() {
		if err != nil {
			pool.Close()
		}
	}()
	store, err := postgres.New(pool, postgres.WithTTL(own.ReservationTTL))
	if err != nil {
		return lifecycle.App{}, err
	}
	// Every replica seeds at every start; products that exist keep their
	// stock (ON CONFLICT DO NOTHING), so this only fills a new database.
	if err := store.Seed(ctx, inventory.SeedCatalog()); err != nil {
		return lifecycle.App{}, err
	}
	svc, err := inventory.NewService(store)
	if err != nil {
		return lifecycle.App{}, err
	}
	sweeper, err := inventory.NewSweeper(store)
	if err != nil {
		return lifecycle.App{}, err
	}
	// A lost database connection is UNAVAILABLE to callers, not INTERNAL.
	srv := p.NewGRPCServer(grpcapi.AllowedCallers, grpcx.WithErrorClassifier(platformpg.Classify),
		grpcx.WithLimiter(p.Limiter(nil)))
	inventoryv1.RegisterInventoryServiceServer(srv.Server, grpcapi.New(svc))
	reg, err := p.Registrar()
	if err != nil {
		return lifecycle.App{}, err
	}
	sweeping, err := lifecycle.Every(ctx, "reservation sweep", own.SweepInterval, p.Logger, sweeper.Sweep)
	if err != nil {
		return lifecycle.App{}, err
	}
	ready := platformpg.Ready(pool)
	// The service's closers run before the shared ones: the sweeper stops
	// before the pool it uses closes, and both before telemetry flushes.
	return p.App(srv, reg, ready,
		lifecycle.Closer{Name: "reservation sweeper", Close: sweeping.Close},
		lifecycle.Closer{Name: "database pool", Close: func(context.Context) error { pool.Close(); return nil }},
	), nil
}
