// Command order places orders and runs their saga over gRPC.
package main

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopmesh/shopmesh/pkg/api"
	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"
	paymentv1 "github.com/shopmesh/shopmesh/pkg/api/payment/v1"
	shippingv1 "github.com/shopmesh/shopmesh/pkg/api/shipping/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/bootstrap"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"
	platformpg "github.com/shopmesh/shopmesh/pkg/platform/postgres"
	"github.com/shopmesh/shopmesh/pkg/platform/settings"

	"github.com/shopmesh/shopmesh/order/internal/grpcapi"
	"github.com/shopmesh/shopmesh/order/internal/inventoryclient"
	"github.com/shopmesh/shopmesh/order/internal/order"
	"github.com/shopmesh/shopmesh/order/internal/paymentclient"
	"github.com/shopmesh/shopmesh/order/internal/postgres"
	"github.com/shopmesh/shopmesh/order/internal/shippingclient"
)

func main() { bootstrap.Main(service) }

// service is order as the platform runs it.
var service = platformpg.Service(bootstrap.Service[config]{
	Name: "order", API: bootstrap.API{Budgets: api.Budgets, Idempotent: api.Idempotent},
	Config: readConfig,
}, postgres.Migrations(), wire)

// config is order's own configuration, beside bootstrap.Config.
type config struct {
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
	// ShippingInterval (SHIPPING_RELAY_INTERVAL, default 2s) is how often
	// the shipping relay tells shipping of confirmed and cancelled orders.
	ShippingInterval time.Duration
}

func readConfig(s *settings.Reader) config {
	c := config{
		RecoveryAfter:       s.Duration("RECOVERY_AFTER", order.DefaultRecoveryAfter),
		RecoveryInterval:    s.Duration("RECOVERY_INTERVAL", order.DefaultRecoveryInterval),
		RecoveryMaxAttempts: s.Int("RECOVERY_MAX_ATTEMPTS", order.DefaultMaxAttempts),
		ShippingInterval:    s.Duration("SHIPPING_RELAY_INTERVAL", order.DefaultShippingInterval),
	}
	// Seed rule 4, budgets nest: a run of the saga holds its order for
	// RECOVERY_AFTER and gives up when that ends, so it must outlast the
	// request that started it, whose budget holds the whole saga.
	s.Check(c.RecoveryAfter >= api.PlaceOrderBudget,
		"RECOVERY_AFTER %v: must be at least order.PlaceOrder's budget of %v (pkg/api/budgets.go), or a run would give up while its request still waits",
		c.RecoveryAfter, api.PlaceOrderBudget)
	s.Check(c.RecoveryInterval > 0, "RECOVERY_INTERVAL %v: must be positive", c.RecoveryInterval)
	s.Check(c.RecoveryMaxAttempts >= 1, "RECOVERY_MAX_ATTEMPTS %d: must be at least 1", c.RecoveryMaxAttempts)
	s.Check(c.ShippingInterval > 0, "SHIPPING_RELAY_INTERVAL %v: must be positive", c.ShippingInterval)
	return c
}

// wire builds the domain over the database and its peers' shared
// connections (seed rule 1: one connection per peer, created once), starts
// the recovery loop and the shipping relay, and returns the parts.
func wire(ctx context.Context, p *bootstrap.Process, own config, db *pgxpool.Pool) (bootstrap.Parts, error) {
	invConn, err := p.Conns.Get("inventory")
	if err != nil {
		return bootstrap.Parts{}, err
	}
	payConn, err := p.Conns.Get("payment")
	if err != nil {
		return bootstrap.Parts{}, err
	}
	shipConn, err := p.Conns.Get("shipping")
	if err != nil {
		return bootstrap.Parts{}, err
	}
	store, err := postgres.New(db)
	if err != nil {
		return bootstrap.Parts{}, err
	}
	svc, err := order.NewService(store,
		inventoryclient.New(inventoryv1.NewInventoryServiceClient(invConn)),
		paymentclient.New(paymentv1.NewPaymentServiceClient(payConn)),
		p.Logger, order.WithRecoveryAfter(own.RecoveryAfter),
		order.WithMaxAttempts(own.RecoveryMaxAttempts), order.WithThrottle(p.Throttle()))
	if err != nil {
		return bootstrap.Parts{}, err
	}
	// A saga's permit covers its work inside shopmesh, inventory's
	// included; it is given back only while payment waits on the provider.
	holds := func(method string) bool { return !api.Outside[method] }
	srv := p.NewGRPCServer(grpcapi.AllowedCallers, grpcx.WithLimiter(p.Limiter(holds)))
	orderv1.RegisterOrderServiceServer(srv, grpcapi.New(svc))
	relay, err := order.NewShippingRelay(store, shippingclient.New(shippingv1.NewShippingServiceClient(shipConn)), p.Logger)
	if err != nil {
		return bootstrap.Parts{}, err
	}
	// The loops last, so nothing after them can fail and leave them
	// running. Their closers run before the database pool and the peer
	// connections close: they stop using them before they go.
	recovery, err := lifecycle.Every(ctx, "order recovery", own.RecoveryInterval, p.Logger, svc.RecoveryPass)
	if err != nil {
		return bootstrap.Parts{}, err
	}
	shipping, err := lifecycle.Every(ctx, "shipping relay", own.ShippingInterval, p.Logger, relay.Pass)
	if err != nil {
		_ = recovery.Close(ctx)
		return bootstrap.Parts{}, err
	}
	// Ready means the database answers (platformpg.Service checks it). Peers are
	// not asked: when one is down every replica is equally stuck, and the
	// saga already leaves its orders to recovery.
	return bootstrap.Parts{
		Server: srv, Register: true,
		Closers: []lifecycle.Closer{
			// After the server stopped: no request starts a saga any more.
			{Name: "sagas in flight", Close: svc.Close},
			{Name: "recovery loop", Close: recovery.Close},
			{Name: "shipping relay", Close: shipping.Close},
		},
	}, nil
}
