// Command shipping ships confirmed orders, over gRPC.
package main

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopmesh/shopmesh/pkg/api"
	shippingv1 "github.com/shopmesh/shopmesh/pkg/api/shipping/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/bootstrap"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	platformpg "github.com/shopmesh/shopmesh/pkg/platform/postgres"

	"github.com/shopmesh/shopmesh/shipping/internal/grpcapi"
	"github.com/shopmesh/shopmesh/shipping/internal/postgres"
	"github.com/shopmesh/shopmesh/shipping/internal/shipping"
)

func main() { bootstrap.Main(service) }

// service is shipping as the platform runs it. It has no settings of its
// own (struct{}): the shared ones and DATABASE_URL are all it reads.
var service = platformpg.Service(bootstrap.Service[struct{}]{
	Name: "shipping", API: bootstrap.API{Budgets: api.Budgets, Idempotent: api.Idempotent},
}, postgres.Migrations(), wire)

// wire builds the domain over the database and returns the parts.
func wire(_ context.Context, p *bootstrap.Process, _ struct{}, db *pgxpool.Pool) (bootstrap.Parts, error) {
	store, err := postgres.New(db)
	if err != nil {
		return bootstrap.Parts{}, err
	}
	svc, err := shipping.NewService(store)
	if err != nil {
		return bootstrap.Parts{}, err
	}
	srv := p.NewGRPCServer(grpcapi.AllowedCallers, grpcx.WithLimiter(p.Limiter(nil)))
	shippingv1.RegisterShippingServiceServer(srv, grpcapi.New(svc))
	return bootstrap.Parts{Server: srv, Register: true}, nil
}
