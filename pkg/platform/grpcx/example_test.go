package grpcx_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"google.golang.org/grpc/status"

	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf"
	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf/devpki"
)

// exampleInventory answers Reserve with one line per item.
type exampleInventory struct {
	inventoryv1.UnimplementedInventoryServiceServer
}

func (exampleInventory) Reserve(_ context.Context, req *inventoryv1.ReserveRequest) (*inventoryv1.ReserveResponse, error) {
	resp := &inventoryv1.ReserveResponse{}
	for _, it := range req.GetItems() {
		resp.Lines = append(resp.Lines, &inventoryv1.ReservedLine{ProductId: it.GetProductId(), Quantity: it.GetQuantity()})
	}
	return resp, nil
}

// The inventory service lets only order reserve stock; the callee decides
// from the caller's certificate. Each caller keeps one Conns for the life of
// the process and asks it for the peer by name.
func Example() {
	dir, err := os.MkdirTemp("", "pki")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	if _, err := devpki.Generate(dir, devpki.Named("gateway", "order", "inventory", "payment", "admin"), devpki.Options{}); err != nil {
		fmt.Println(err)
		return
	}
	mustLoad := func(service string) *tlsconf.Identity {
		id, err := tlsconf.Load(dir, service)
		if err != nil {
			panic(err)
		}
		return id
	}
	quiet := slog.New(slog.DiscardHandler)

	// The callee: mTLS as inventory, Reserve for order only. Every method
	// needs a rule, or registering the service panics: here the whole
	// service is the gateway's, and the longest matching rule wins.
	srv := grpcx.NewServer(mustLoad("inventory"),
		grpcx.WithServerLogger(quiet),
		grpcx.WithAllowedCallers(map[string][]string{
			"/" + inventoryv1.InventoryService_ServiceDesc.ServiceName + "/": {"gateway"},
			inventoryv1.InventoryService_Reserve_FullMethodName:              {"order"},
		}))
	inventoryv1.RegisterInventoryServiceServer(srv, exampleInventory{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
		if err := <-served; err != nil {
			fmt.Println(err)
		}
	}()
	// In a service the target is "etcd:///inventory", resolved by the
	// discovery package; here it is the listener's address.
	target := grpcx.WithTarget(func(string) string { return "passthrough:///" + lis.Addr().String() })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := &inventoryv1.ReserveRequest{OrderId: "o1", Items: []*inventoryv1.Item{{ProductId: "p1", Quantity: 2}}}
	for _, caller := range []string{"order", "gateway"} {
		conns := grpcx.NewConns(mustLoad(caller), target, grpcx.WithConnsLogger(quiet))
		cc, err := conns.Get("inventory")
		if err != nil {
			fmt.Println(err)
			return
		}
		resp, err := inventoryv1.NewInventoryServiceClient(cc).Reserve(ctx, req)
		if err != nil {
			fmt.Printf("%s: %s\n", caller, status.Code(err))
		} else {
			fmt.Printf("%s: reserved %d line(s)\n", caller, len(resp.GetLines()))
		}
		_ = conns.Close()
	}
	// Output:
	// order: reserved 1 line(s)
	// gateway: PermissionDenied
}

// A domain error crosses a gRPC hop with its code, reason and metadata: the
// server interceptor calls ToStatus, the client adapter FromStatus.
func ExampleFromStatus() {
	// inventory's domain code:
	err := apperr.New(apperr.FailedPrecondition, "product %s is short", "p1").
		WithReason("OUT_OF_STOCK", "order_id", "o1")

	// What the inventory server sends, and what the order client receives:
	st := grpcx.ToStatus(fmt.Errorf("reserve: %w", err))
	fmt.Println(st.Code(), st.Message())

	got := grpcx.FromStatus(st.Err())
	var e *apperr.Error
	if errors.As(got, &e) {
		fmt.Println(apperr.CodeOf(got), apperr.ReasonOf(got), e.Metadata["order_id"])
	}
	// Output:
	// FailedPrecondition product p1 is short
	// failed_precondition OUT_OF_STOCK o1
}

// An error that is not an *apperr.Error is a bug or an unexpected failure:
// the caller learns only that.
func ExampleToStatus() {
	st := grpcx.ToStatus(fmt.Errorf("query stock: %w", errors.New("password authentication failed for user shopmesh")))
	fmt.Println(st.Code(), st.Message())
	// Output: Internal internal error
}
