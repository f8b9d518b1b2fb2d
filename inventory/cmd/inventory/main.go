// Command inventory serves the catalog and stock over gRPC.
package main

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopmesh/shopmesh/pkg/api"
	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/bootstrap"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"
	platformpg "github.com/shopmesh/shopmesh/pkg/platform/postgres"
	"github.com/shopmesh/shopmesh/pkg/platform/settings"

	"github.com/shopmesh/shopmesh/inventory/internal/grpcapi"
	"github.com/shopmesh/shopmesh/inventory/internal/inventory"
	"github.com/shopmesh/shopmesh/inventory/internal/postgres"
)

func main() { bootstrap.Main(service) }

// service is inventory as the platform runs it.
var service = platformpg.Service(bootstrap.Service[config]{
	Name: "inventory", API: bootstrap.API{Budgets: api.Budgets, Idempotent: api.Idempotent},
	Config: readConfig,
}, postgres.Migrations(), wire)

// config is inventory's own configuration, beside bootstrap.Config.
type config struct {
	// ReservationTTL (RESERVATION_TTL, default 15m) is how long stock stays
	// reserved for an order that neither commits nor releases it.
	ReservationTTL time.Duration
	// SweepInterval (RESERVATION_SWEEP_INTERVAL) is the time between two
	// sweeps for expired reservations; default a tenth of the TTL, at
	// least 1s and at most 1m.
	SweepInterval time.Duration
}

func readConfig(s *settings.Reader) config {
	var c config
	c.ReservationTTL = s.Duration("RESERVATION_TTL", inventory.DefaultReservationTTL)
	c.SweepInterval = s.Duration("RESERVATION_SWEEP_INTERVAL", min(max(c.ReservationTTL/10, time.Second), time.Minute))
	s.Check(c.ReservationTTL > 0, "RESERVATION_TTL %v: must be positive", c.ReservationTTL)
	s.Check(c.SweepInterval > 0, "RESERVATION_SWEEP_INTERVAL %v: must be positive", c.SweepInterval)
	return c
}

// wire builds the domain over the database and returns the parts.
func wire(ctx context.Context, p *bootstrap.Process, own config, db *pgxpool.Pool) (bootstrap.Parts, error) {
	store, err := postgres.New(db, postgres.WithTTL(own.ReservationTTL))
	if err != nil {
		return bootstrap.Parts{}, err
	}
	// Every replica seeds at every start; products that exist keep their
	// stock (ON CONFLICT DO NOTHING), so this only fills a new database.
	if err := store.Seed(ctx, inventory.SeedCatalog()); err != nil {
		return bootstrap.Parts{}, err
	}
	svc, err := inventory.NewService(store)
	if err != nil {
		return bootstrap.Parts{}, err
	}
	sweeper, err := inventory.NewSweeper(store)
	if err != nil {
		return bootstrap.Parts{}, err
	}
	srv := p.NewGRPCServer(grpcapi.AllowedCallers, grpcx.WithLimiter(p.Limiter(nil)))
	inventoryv1.RegisterInventoryServiceServer(srv, grpcapi.New(svc))
	// Last, so nothing after it can fail and leave it running. It stops
	// before the database pool it uses closes.
	sweeping, err := lifecycle.Every(ctx, "reservation sweep", own.SweepInterval, p.Logger, sweeper.Sweep)
	if err != nil {
		return bootstrap.Parts{}, err
	}
	return bootstrap.Parts{
		Server: srv, Register: true,
		Closers: []lifecycle.Closer{{Name: "reservation sweeper", Close: sweeping.Close}},
	}, nil
}
