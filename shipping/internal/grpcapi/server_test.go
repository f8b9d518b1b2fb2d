package grpcapi_test

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	shippingv1 "github.com/shopmesh/shopmesh/pkg/api/shipping/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf"
	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf/devpki"

	"github.com/shopmesh/shopmesh/shipping/internal/grpcapi"
	"github.com/shopmesh/shopmesh/shipping/internal/memstore"
	"github.com/shopmesh/shopmesh/shipping/internal/shipping"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve runs shipping's gRPC server over mTLS on loopback, as the service
// does, and returns a client for each caller identity.
func serve(t *testing.T) (client func(caller string) shippingv1.ShippingServiceClient) {
	t.Helper()
	dir := t.TempDir()
	if _, err := devpki.Generate(dir, devpki.Named("shipping", "order", "gateway"), devpki.Options{}); err != nil {
		t.Fatal(err)
	}
	load := func(name string) *tlsconf.Identity {
		id, err := tlsconf.Load(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	quiet := slog.New(slog.DiscardHandler)
	svc, err := shipping.NewService(memstore.New())
	if err != nil {
		t.Fatal(err)
	}
	srv := grpcx.NewServer(load("shipping"), grpcx.WithServerLogger(quiet), grpcx.WithAllowedCallers(grpcapi.AllowedCallers))
	shippingv1.RegisterShippingServiceServer(srv, grpcapi.New(svc))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
		if err := <-served; err != nil {
			t.Errorf("Serve returned %v after Stop, want nil", err)
		}
	})
	target := grpcx.WithTarget(func(string) string { return "passthrough:///" + lis.Addr().String() })
	return func(caller string) shippingv1.ShippingServiceClient {
		conns := grpcx.NewConns(load(caller), target, grpcx.WithConnsLogger(quiet))
		t.Cleanup(func() { _ = conns.Close() })
		cc, err := conns.Get("shipping")
		if err != nil {
			t.Fatal(err)
		}
		return shippingv1.NewShippingServiceClient(cc)
	}
}

func TestServer(t *testing.T) {
	t.Parallel()
	client := serve(t)
	order, gateway := client("order"), client("gateway")
	ctx := t.Context()
	create := &shippingv1.CreateShipmentRequest{OrderId: "ord-1", CustomerId: "c-1",
		Items: []*shippingv1.Item{{ProductId: "p-1", Quantity: 2}}}

	// Only order may call shipping.
	if _, err := gateway.CreateShipment(ctx, create); status.Code(err) != codes.PermissionDenied {
		t.Errorf("CreateShipment as gateway: %v, want PERMISSION_DENIED", err)
	}
	if _, err := order.GetShipment(ctx, &shippingv1.GetShipmentRequest{OrderId: "ord-1"}); status.Code(err) != codes.NotFound {
		t.Errorf("GetShipment before any: %v, want NOT_FOUND", err)
	}
	if _, err := order.CreateShipment(ctx, &shippingv1.CreateShipmentRequest{OrderId: "ord-1"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("CreateShipment without items: %v, want INVALID_ARGUMENT", err)
	}

	created, err := order.CreateShipment(ctx, create)
	if err != nil {
		t.Fatalf("CreateShipment as order: %v", err)
	}
	if sh := created.GetShipment(); sh.GetStatus() != shippingv1.ShipmentStatus_SHIPMENT_STATUS_CREATED || len(sh.GetItems()) != 1 {
		t.Errorf("created %v, want CREATED with one item", sh)
	}
	cancelled, err := order.CancelShipment(ctx, &shippingv1.CancelShipmentRequest{OrderId: "ord-1"})
	if err != nil {
		t.Fatalf("CancelShipment: %v", err)
	}
	if st := cancelled.GetShipment().GetStatus(); st != shippingv1.ShipmentStatus_SHIPMENT_STATUS_CANCELLED {
		t.Errorf("cancelled shipment is %v", st)
	}
	// A late repeat of the create cannot revive it.
	again, err := order.CreateShipment(ctx, create)
	if err != nil || again.GetShipment().GetStatus() != shippingv1.ShipmentStatus_SHIPMENT_STATUS_CANCELLED {
		t.Errorf("CreateShipment after the cancel: %v, %v; want the cancelled shipment", again.GetShipment(), err)
	}
}
