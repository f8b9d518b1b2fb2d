package grpcx_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf"
	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf/devpki"
)

// reserveOnlyOrder is like the real inventory service's rules: only order
// may move stock, any authenticated caller may read a product, and the
// methods it does not name (ListProducts here) are denied.
var reserveOnlyOrder = map[string][]string{
	inventoryv1.InventoryService_Reserve_FullMethodName:    {"order"},
	inventoryv1.InventoryService_GetProduct_FullMethodName: {grpcx.AnyCaller},
}

// pki is a fresh dev PKI with shopmesh's identities.
type pki struct{ dir string }

func newPKI(t testing.TB) pki {
	t.Helper()
	dir := t.TempDir()
	if _, err := devpki.Generate(dir, devpki.Named("gateway", "order", "inventory", "payment", "admin"), devpki.Options{}); err != nil {
		t.Fatalf("generate dev PKI: %v", err)
	}
	return pki{dir: dir}
}

// id loads service's identity.
func (p pki) id(t testing.TB, service string) *tlsconf.Identity {
	t.Helper()
	id, err := tlsconf.Load(p.dir, service)
	if err != nil {
		t.Fatalf("load identity %q: %v", service, err)
	}
	return id
}

// fakeInventory is the test service: each method does what its field says
// (nil: a fixed answer) and counts its calls.
type fakeInventory struct {
	inventoryv1.UnimplementedInventoryServiceServer

	name       string // answered as Product.Name by GetProduct, to tell servers apart
	reserve    func(ctx context.Context, req *inventoryv1.ReserveRequest) (*inventoryv1.ReserveResponse, error)
	getProduct func(ctx context.Context, req *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error)

	reserveCalls atomic.Int32
	getCalls     atomic.Int32
}

var _ inventoryv1.InventoryServiceServer = (*fakeInventory)(nil)

func (f *fakeInventory) Reserve(ctx context.Context, req *inventoryv1.ReserveRequest) (*inventoryv1.ReserveResponse, error) {
	f.reserveCalls.Add(1)
	if f.reserve != nil {
		return f.reserve(ctx, req)
	}
	lines := make([]*inventoryv1.ReservedLine, 0, len(req.GetItems()))
	for _, it := range req.GetItems() {
		lines = append(lines, &inventoryv1.ReservedLine{ProductId: it.GetProductId(), Quantity: it.GetQuantity()})
	}
	return &inventoryv1.ReserveResponse{Lines: lines}, nil
}

func (f *fakeInventory) GetProduct(ctx context.Context, req *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
	f.getCalls.Add(1)
	if f.getProduct != nil {
		return f.getProduct(ctx, req)
	}
	return &inventoryv1.GetProductResponse{Product: &inventoryv1.Product{Id: req.GetId(), Name: f.name}}, nil
}

// startServer serves fake on 127.0.0.1:0 with a grpcx server for id and
// returns the server and its address. Cleanup stops it and waits for Serve
// to return.
func startServer(t testing.TB, id *tlsconf.Identity, fake *fakeInventory, opts ...grpcx.ServerOption) (*grpcx.Server, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	opts = append([]grpcx.ServerOption{grpcx.WithServerLogger(discardLogger())}, opts...)
	srv := grpcx.NewServer(id, opts...)
	// Registered on the embedded grpc.Server, past Server.RegisterService's
	// check that every method has a rule, so the tests can see what the
	// interceptors do with a method no rule names (deny by default).
	inventoryv1.RegisterInventoryServiceServer(srv.Server, fake)
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
	return srv, lis.Addr().String()
}

// newConns returns Conns that authenticate as caller and reach every service
// at addr. Cleanup closes them.
func newConns(t testing.TB, caller *tlsconf.Identity, addr string, opts ...grpcx.ConnsOption) *grpcx.Conns {
	t.Helper()
	opts = append([]grpcx.ConnsOption{
		grpcx.WithConnsLogger(discardLogger()),
		grpcx.WithTarget(func(string) string { return "passthrough:///" + addr }),
	}, opts...)
	conns := grpcx.NewConns(caller, opts...)
	t.Cleanup(func() {
		if err := conns.Close(); err != nil {
			t.Errorf("close conns: %v", err)
		}
	})
	return conns
}

// inventoryClient returns a client of the inventory service through conns.
func inventoryClient(t testing.TB, conns *grpcx.Conns) inventoryv1.InventoryServiceClient {
	t.Helper()
	cc, err := conns.Get("inventory")
	if err != nil {
		t.Fatalf("Conns.Get(inventory): %v", err)
	}
	return inventoryv1.NewInventoryServiceClient(cc)
}

// rawConn is a plain grpc.ClientConn as caller to the inventory server at
// addr: no hop timeout, no service config. Cleanup closes it.
func rawConn(t testing.TB, caller *tlsconf.Identity, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(credentials.NewTLS(caller.ClientConfig("inventory"))))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// wantCode fails the test unless err carries the gRPC code want.
func wantCode(t *testing.T, what string, err error, want codes.Code) *status.Status {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("%s: error %v carries no gRPC status, want %v", what, err, want)
	}
	if st.Code() != want {
		t.Fatalf("%s: got code %v (%q), want %v", what, st.Code(), st.Message(), want)
	}
	return st
}

// reserveReq is a valid Reserve request for order o1.
func reserveReq() *inventoryv1.ReserveRequest {
	return &inventoryv1.ReserveRequest{OrderId: "o1", Items: []*inventoryv1.Item{{ProductId: "p1", Quantity: 2}}}
}

// callCtx returns a context for one test call.
func callCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond every 10ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// logBuffer collects log output written from server goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// blockUntilDone is a handler body that waits for its context, as a slow
// dependency honoring it would.
func blockUntilDone(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

var errSecret = errors.New("secret db password")

// errRestarting stands for a database failure a retry overcomes.
var errRestarting = errors.New("terminating connection due to administrator command (SQLSTATE 57P01)")
