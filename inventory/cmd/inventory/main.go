// Command inventory serves the catalog and stock over gRPC.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/bootstrap"
	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"

	"github.com/shopmesh/shopmesh/inventory/internal/grpcapi"
	"github.com/shopmesh/shopmesh/inventory/internal/inventory"
	"github.com/shopmesh/shopmesh/inventory/internal/memstore"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "inventory:", err)
		os.Exit(1)
	}
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
	p, err := bootstrap.Start(ctx, cfg, stdout, getenv)
	if err != nil {
		return err
	}
	svc, err := inventory.NewService(memstore.New(inventory.SeedCatalog()))
	if err != nil {
		p.Abort(ctx)
		return err
	}
	srv := p.NewGRPCServer(grpcapi.AllowedCallers)
	inventoryv1.RegisterInventoryServiceServer(srv.Server, grpcapi.New(svc))
	reg, err := p.Registrar()
	if err != nil {
		p.Abort(ctx)
		return err
	}
	return lifecycle.Run(ctx, p.App(srv, reg, nil))
}
