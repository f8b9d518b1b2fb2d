// Command order places orders and runs their saga over gRPC.
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
	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"
	paymentv1 "github.com/shopmesh/shopmesh/pkg/api/payment/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/bootstrap"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"
	platformpg "github.com/shopmesh/shopmesh/pkg/platform/postgres"

	"github.com/shopmesh/shopmesh/order/internal/grpcapi"
	"github.com/shopmesh/shopmesh/order/internal/inventoryclient"
	"github.com/shopmesh/shopmesh/order/internal/order"
	"github.com/shopmesh/shopmesh/order/internal/paymentclient"
	"github.com/shopmesh/shopmesh/order/internal/postgres"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "order:", err)
		os.Exit(1)
	}
}

// config is order's own configuration, beside bootstrap.Config.
type config struct {
	DatabaseURL string // DATABASE_URL: the order database (postgres:// URL), required
	// RecoveryAfter (RECOVERY_AFTER, default 30s) is how long a run of the
	// saga may hold a PENDING order, and how long an order may sit PENDING
	// without progress before the recovery loop takes it over.
	RecoveryAfter time.Duration
	// RecoveryInterval (RECOVERY_INTERVAL, default 10s) is how often the
	// recovery loop looks for such orders.
	RecoveryInterval time.Duration
	// RecoveryMaxAttempts (RECOVERY_MAX_ATTEMPTS, default 8) is how many
	// runs of an order may stop short before it is parked for an operator.
	RecoveryMaxAttempts int
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{DatabaseURL: getenv("DATABASE_URL")}
	var errs []error
	var err error
	if c.RecoveryAfter, err = bootstrap.ParseDuration(getenv("RECOVERY_AFTER"), order.DefaultRecoveryAfter); err != nil {
		errs = append(errs, fmt.Errorf("RECOVERY_AFTER: %w", err))
	}
	if c.RecoveryInterval, err = bootstrap.ParseDuration(getenv("RECOVERY_INTERVAL"), order.DefaultRecoveryInterval); err != nil {
		errs = append(errs, fmt.Errorf("RECOVERY_INTERVAL: %w", err))
	}
	if c.RecoveryMaxAttempts, err = bootstrap.ParseInt(getenv("RECOVERY_MAX_ATTEMPTS"), order.DefaultMaxAttempts); err != nil {
		errs = append(errs, fmt.Errorf("RECOVERY_MAX_ATTEMPTS: %w", err))
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
		errs = append(errs, errors.New("DATABASE_URL is required (e.g. postgres://order:secret@postgres:5432/order)"))
	}
	if c.RecoveryAfter < api.PlaceOrderBudget {
		// Seed rule 4, budgets nest: a run of the saga holds its order for
		// RECOVERY_AFTER and gives up when that ends, so it must outlast
		// the request that started it, whose budget holds the whole saga.
		errs = append(errs, fmt.Errorf("RECOVERY_AFTER %v: must be at least order.PlaceOrder's budget of %v (pkg/api/budgets.go), or a run would give up while its request still waits",
			c.RecoveryAfter, api.PlaceOrderBudget))
	}
	if c.RecoveryInterval <= 0 {
		errs = append(errs, fmt.Errorf("RECOVERY_INTERVAL %v: must be positive", c.RecoveryInterval))
	}
	if c.RecoveryMaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("RECOVERY_MAX_ATTEMPTS %d: must be at least 1", c.RecoveryMaxAttempts))
	}
	return errors.Join(errs...)
}

// run wires the service from its environment and serves until ctx ends or
// a signal arrives. Tests call it directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if lifecycle.IsProbe(args) {
		return lifecycle.Probe(ctx, getenv("ADMIN_ADDR"))
	}
	cfg, err := bootstrap.LoadConfig("order", getenv)
	if err != nil {
		return err
	}
	own, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("config of order: %w", err)
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

// wire opens the database, builds the domain over it and its peers' shared
// connections (seed rule 1: one connection per peer, created once), starts
// the recovery loop and returns the app. On error it closes what it opened;
// the caller aborts the process.
func wire(ctx context.Context, p *bootstrap.Process, own config) (_ lifecycle.App, err error) {
	invConn, err := p.Conns.Get("inventory")
	if err != nil {
		return lifecycle.App{}, err
	}
	payConn, err := p.Conns.Get("payment")
	if err != nil {
		return lifecycle.App{}, err
	}
	pool, err := platformpg.Open(ctx, platformpg.Config{DSN: own.DatabaseURL}, postgres.Migrations(), p.Logger)
	if err != nil {
		return lifecycle.App{}, fmt.Errorf("order database: %w", err)
	}
	defer func() {
		if err != nil {
			pool.Close()
		}
	}()
	store, err := postgres.New(pool)
	if err != nil {
		return lifecycle.App{}, err
	}
	svc, err := order.NewService(store,
		inventoryclient.New(inventoryv1.NewInventoryServiceClient(invConn)),
		paymentclient.New(paymentv1.NewPaymentServiceClient(payConn)),
		p.Logger, order.WithRecoveryAfter(own.RecoveryAfter),
		order.WithMaxAttempts(own.RecoveryMaxAttempts), order.WithThrottle(p.Throttle()))
	if err != nil {
		return lifecycle.App{}, err
	}
	// A lost database connection is UNAVAILABLE to callers, not INTERNAL.
	// A saga's permit covers its work inside shopmesh, inventory's
	// included; it is given back only while payment waits on the provider.
	holds := func(method string) bool { return !api.Outside[method] }
	srv := p.NewGRPCServer(grpcapi.AllowedCallers, grpcx.WithErrorClassifier(platformpg.Classify),
		grpcx.WithLimiter(p.Limiter(holds)))
	orderv1.RegisterOrderServiceServer(srv.Server, grpcapi.New(svc))
	reg, err := p.Registrar()
	if err != nil {
		return lifecycle.App{}, err
	}
	// Ready means the database answers. Peers are not asked: when one is
	// down every replica is equally stuck, and the saga already leaves its
	// orders to recovery.
	ready := platformpg.Ready(pool)
	// Last, so nothing after it can fail and leave it running. Its closer
	// runs before the pool's and the peer connections' (p.App closes the
	// extra closers first): it stops using them before they go.
	recovery, err := lifecycle.Every(ctx, "order recovery", own.RecoveryInterval, p.Logger, svc.RecoveryPass)
	if err != nil {
		return lifecycle.App{}, err
	}
	return p.App(srv, reg, ready,
		// After the server stopped: no request starts a saga any more.
		lifecycle.Closer{Name: "sagas in flight", Close: svc.Close},
		lifecycle.Closer{Name: "recovery loop", Close: recovery.Close},
		lifecycle.Closer{Name: "database pool", Close: func(context.Context) error { pool.Close(); return nil }},
	), nil
}
