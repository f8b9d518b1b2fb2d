package grpcx_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/deadline"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
)

func TestConns_ServerIdentity(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	// The address the registry gave for "inventory" is served by a process
	// that can only prove it is payment.
	fake := &fakeInventory{}
	_, addr := startServer(t, p.id(t, "payment"), fake)
	client := inventoryClient(t, newConns(t, p.id(t, "order"), addr))

	_, err := client.Reserve(callCtx(t, 5*time.Second), reserveReq())
	st := wantCode(t, "Reserve on a server proving the wrong identity", err, codes.Unavailable)
	if !strings.Contains(st.Message(), "spiffe://shopmesh/payment") {
		t.Errorf("got message %q, want it to name the identity the server presented", st.Message())
	}
	if n := fake.reserveCalls.Load(); n != 0 {
		t.Errorf("handler ran %d times behind a server with the wrong identity, want 0", n)
	}
}

func TestConns_Budgets(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	const reserveCap = 100 * time.Millisecond
	seen, seenGet := make(chan time.Duration, 1), make(chan time.Duration, 2)
	fake := &fakeInventory{}
	fake.reserve = func(ctx context.Context, _ *inventoryv1.ReserveRequest) (*inventoryv1.ReserveResponse, error) {
		dl, _ := ctx.Deadline()
		seen <- time.Until(dl)
		return nil, blockUntilDone(ctx)
	}
	fake.getProduct = func(ctx context.Context, _ *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
		dl, _ := ctx.Deadline()
		seenGet <- time.Until(dl)
		return &inventoryv1.GetProductResponse{}, nil
	}
	_, addr := startServer(t, p.id(t, "inventory"), fake)
	budgets := map[string]time.Duration{inventoryv1.InventoryService_Reserve_FullMethodName: reserveCap}
	client := inventoryClient(t, newConns(t, p.id(t, "order"), addr, grpcx.WithBudgets(budgets)))
	// Connect first, so the measured call is the handler's time alone.
	if _, err := client.GetProduct(callCtx(t, 5*time.Second), &inventoryv1.GetProductRequest{}); err != nil {
		t.Fatalf("warm-up call: %v", err)
	}
	<-seenGet

	t.Run("the method's cap bounds a caller with more time", func(t *testing.T) {
		start := time.Now()
		_, err := client.Reserve(callCtx(t, 5*time.Second), reserveReq())
		elapsed := time.Since(start)
		wantCode(t, "slow Reserve with a 5s caller deadline and a 100ms cap", err, codes.DeadlineExceeded)
		if elapsed < reserveCap || elapsed > 2*time.Second {
			t.Errorf("call failed after %v, want about the %v cap", elapsed, reserveCap)
		}
		if remaining := <-seen; remaining > reserveCap {
			t.Errorf("handler saw %v left, want at most the %v cap", remaining, reserveCap)
		}
	})

	t.Run("the caller's sooner deadline wins", func(t *testing.T) {
		c := inventoryClient(t, newConns(t, p.id(t, "order"), addr,
			grpcx.WithBudgets(map[string]time.Duration{inventoryv1.InventoryService_Reserve_FullMethodName: 5 * time.Second})))
		_, err := c.Reserve(callCtx(t, 300*time.Millisecond), reserveReq())
		wantCode(t, "slow Reserve with a 300ms caller deadline", err, codes.DeadlineExceeded)
		if remaining := <-seen; remaining > 300*time.Millisecond {
			t.Errorf("handler saw %v left, want at most the caller's 300ms", remaining)
		}
	})

	t.Run("what the caller keeps for itself is not given to the callee", func(t *testing.T) {
		c := inventoryClient(t, newConns(t, p.id(t, "order"), addr,
			grpcx.WithBudgets(map[string]time.Duration{inventoryv1.InventoryService_Reserve_FullMethodName: 5 * time.Second})))
		ctx := deadline.Keep(callCtx(t, time.Second), 700*time.Millisecond)
		start := time.Now()
		_, err := c.Reserve(ctx, reserveReq())
		wantCode(t, "slow Reserve keeping 700ms of 1s", err, codes.DeadlineExceeded)
		if remaining := <-seen; remaining > 300*time.Millisecond {
			t.Errorf("handler saw %v left, want at most the 300ms the caller does not keep", remaining)
		}
		if ctx.Err() != nil {
			t.Errorf("the caller's own deadline passed (after %v): it kept nothing for itself", time.Since(start))
		}
	})

	t.Run("a call with too little left is not sent", func(t *testing.T) {
		before := fake.reserveCalls.Load()
		ctx := deadline.Keep(callCtx(t, time.Second), time.Second)
		_, err := client.Reserve(ctx, reserveReq())
		st := wantCode(t, "Reserve with all of its budget kept", err, codes.DeadlineExceeded)
		if !strings.Contains(st.Message(), "not sent") {
			t.Errorf("got message %q, want the client's refusal to send", st.Message())
		}
		if got := fake.reserveCalls.Load() - before; got != 0 {
			t.Errorf("handler ran %d times for a call that had no budget, want 0", got)
		}
	})

	t.Run("a method without a row gets DefaultBudget", func(t *testing.T) {
		if _, err := client.GetProduct(callCtx(t, time.Minute), &inventoryv1.GetProductRequest{}); err != nil {
			t.Fatalf("GetProduct: %v", err)
		}
		if remaining := <-seenGet; remaining > grpcx.DefaultBudget || remaining < grpcx.DefaultBudget/2 {
			t.Errorf("handler saw %v left, want just under DefaultBudget (%v)", remaining, grpcx.DefaultBudget)
		}
	})
}

func TestConns_Get(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	// Creating a connection does no I/O, so nothing needs to listen.
	conns := newConns(t, p.id(t, "order"), "127.0.0.1:1")

	t.Run("repeated calls share one connection", func(t *testing.T) {
		first, err := conns.Get("inventory")
		if err != nil {
			t.Fatalf("Get(inventory): %v", err)
		}
		for i := range 3 {
			cc, err := conns.Get("inventory")
			if err != nil {
				t.Fatalf("Get(inventory) #%d: %v", i+2, err)
			}
			if cc != first {
				t.Fatalf("Get(inventory) #%d returned %p, want the first connection %p", i+2, cc, first)
			}
		}
	})

	t.Run("concurrent calls share one connection", func(t *testing.T) {
		const n = 20
		got := make([]*grpc.ClientConn, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				got[i], errs[i] = conns.Get("payment")
			})
		}
		close(start)
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("goroutine %d: Get(payment): %v", i, errs[i])
			}
			if got[i] != got[0] {
				t.Fatalf("goroutine %d got connection %p, goroutine 0 got %p: want one shared connection", i, got[i], got[0])
			}
		}
	})

	t.Run("each service has its own connection", func(t *testing.T) {
		inv, err := conns.Get("inventory")
		if err != nil {
			t.Fatal(err)
		}
		pay, err := conns.Get("payment")
		if err != nil {
			t.Fatal(err)
		}
		if inv == pay {
			t.Error("inventory and payment share a connection, want one each")
		}
	})

	t.Run("default target is the etcd scheme", func(t *testing.T) {
		etcd := manual.NewBuilderWithScheme("etcd")
		c := grpcx.NewConns(p.id(t, "order"), grpcx.WithConnsLogger(discardLogger()), grpcx.WithResolver(etcd))
		defer c.Close()
		cc, err := c.Get("inventory")
		if err != nil {
			t.Fatalf("Get(inventory): %v", err)
		}
		if got := cc.CanonicalTarget(); got != "etcd:///inventory" {
			t.Errorf("default target is %q, want etcd:///inventory", got)
		}
	})
}

func TestConns_Close(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	conns := grpcx.NewConns(p.id(t, "order"),
		grpcx.WithConnsLogger(discardLogger()),
		grpcx.WithTarget(func(string) string { return "passthrough:///127.0.0.1:1" }))
	var got []*grpc.ClientConn
	for _, s := range []string{"inventory", "payment"} {
		cc, err := conns.Get(s)
		if err != nil {
			t.Fatalf("Get(%s): %v", s, err)
		}
		got = append(got, cc)
	}

	if err := conns.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i, cc := range got {
		if s := cc.GetState(); s != connectivity.Shutdown {
			t.Errorf("connection %d is %v after Close, want SHUTDOWN", i, s)
		}
	}
	if cc, err := conns.Get("inventory"); err == nil {
		t.Errorf("Get after Close returned %v, want an error", cc)
	}
	if err := conns.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
}

func TestConns_HealthChecking(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	inventory := p.id(t, "inventory")
	srvA, addrA := startServer(t, inventory, &fakeInventory{name: "a"})
	_, addrB := startServer(t, inventory, &fakeInventory{name: "b"})

	r := manual.NewBuilderWithScheme("test")
	r.InitialState(resolver.State{Addresses: []resolver.Address{{Addr: addrA}, {Addr: addrB}}})
	conns := newConns(t, p.id(t, "order"), "",
		grpcx.WithResolver(r),
		grpcx.WithTarget(func(s string) string { return r.Scheme() + ":///" + s }))
	client := inventoryClient(t, conns)

	servedBy := func(t *testing.T) string {
		t.Helper()
		resp, err := client.GetProduct(callCtx(t, 5*time.Second), &inventoryv1.GetProductRequest{Id: "p1"})
		if err != nil {
			t.Fatalf("GetProduct: %v", err)
		}
		return resp.GetProduct().GetName()
	}

	seen := map[string]bool{}
	eventually(t, 5*time.Second, "round robin reaches both servers", func() bool {
		seen[servedBy(t)] = true
		return seen["a"] && seen["b"]
	})

	srvA.SetServing(false)
	// Once the health stream has told the client, every call goes to b.
	streak := 0
	eventually(t, 5*time.Second, "calls stop going to the NOT_SERVING server", func() bool {
		if servedBy(t) == "b" {
			streak++
		} else {
			streak = 0
		}
		return streak >= 10
	})
	for i := range 20 {
		if got := servedBy(t); got != "b" {
			t.Fatalf("call %d after a went NOT_SERVING was served by %q, want b", i, got)
		}
	}

	srvA.SetServing(true)
	seen = map[string]bool{}
	eventually(t, 5*time.Second, "a is back in rotation once SERVING", func() bool {
		seen[servedBy(t)] = true
		return seen["a"]
	})
}
