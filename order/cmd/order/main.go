// Command order places orders and runs their saga over gRPC.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"
	paymentv1 "github.com/shopmesh/shopmesh/pkg/api/payment/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/bootstrap"
	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"

	"github.com/shopmesh/shopmesh/order/internal/grpcapi"
	"github.com/shopmesh/shopmesh/order/internal/inventoryclient"
	"github.com/shopmesh/shopmesh/order/internal/memstore"
	"github.com/shopmesh/shopmesh/order/internal/order"
	"github.com/shopmesh/shopmesh/order/internal/paymentclient"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "order:", err)
		os.Exit(1)
	}
}

// run wires the service from its environment and serves until ctx ends or
// a signal arrives.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if lifecycle.IsProbe(args) {
		return lifecycle.Probe(ctx, getenv("ADMIN_ADDR"))
	}
	cfg, err := bootstrap.LoadConfig("order", getenv)
	if err != nil {
		return err
	}
	p, err := bootstrap.Start(ctx, cfg, stdout, getenv)
	if err != nil {
		return err
	}
	srv, reg, err := wire(p)
	if err != nil {
		p.Abort(ctx)
		return err
	}
	return lifecycle.Run(ctx, p.App(srv, reg, nil))
}

// wire builds the domain over its peers' shared connections (seed rule 1:
// one connection per peer, created once) and the gRPC server.
func wire(p *bootstrap.Process) (lifecycle.Server, lifecycle.Registrar, error) {
	invConn, err := p.Conns.Get("inventory")
	if err != nil {
		return nil, nil, err
	}
	payConn, err := p.Conns.Get("payment")
	if err != nil {
		return nil, nil, err
	}
	svc, err := order.NewService(memstore.New(),
		inventoryclient.New(inventoryv1.NewInventoryServiceClient(invConn)),
		paymentclient.New(paymentv1.NewPaymentServiceClient(payConn)),
		p.Logger)
	if err != nil {
		return nil, nil, err
	}
	srv := p.NewGRPCServer(grpcapi.AllowedCallers)
	orderv1.RegisterOrderServiceServer(srv.Server, grpcapi.New(svc))
	reg, err := p.Registrar()
	if err != nil {
		return nil, nil, err
	}
	return srv, reg, nil
}
