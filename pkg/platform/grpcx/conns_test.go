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

func TestConns_HopTimeout(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	const hop = 100 * time.Millisecond
	seen := make(chan time.Duration, 1)
	fake := &fakeInventory{}
	fake.reserve = func(ctx context.Context, _ *inventoryv1.ReserveRequest) (*inventoryv1.ReserveResponse, error) {
		dl, _ := ctx.Deadline()
		seen <- time.Until(dl)
		return nil, blockUntilDone(ctx)
	}
	_, addr := startServer(t, p.id(t, "inventory"), fake)
	client := inventoryClient(t, newConns(t, p.id(t, "order"), addr, grpcx.WithHopTimeout(hop)))
	// Connect first, so the measured call is the handler's time alone.
	if _, err := client.GetProduct(callCtx(t, 5*time.Second), &inventoryv1.GetProductRequest{}); err != nil {
		t.Fatalf("warm-up call: %v", err)
	}

	start := time.Now()
	_, err := client.Reserve(callCtx(t, 5*time.Second), reserveReq())
	elapsed := time.Since(start)
	wantCode(t, "slow Reserve with a 5s caller deadline and a 100ms hop", err, codes.DeadlineExceeded)
	if elapsed < hop || elapsed > 2*time.Second {
		t.Errorf("call failed after %v, want about the %v hop timeout", elapsed, hop)
	}
	if remaining := <-seen; remaining > hop {
		t.Errorf("handler saw %v left, want at most the %v hop timeout", remaining, hop)
	}

	t.Run("caller's sooner deadline wins", func(t *testing.T) {
		c := inventoryClient(t, newConns(t, p.id(t, "order"), addr, grpcx.WithHopTimeout(5*time.Second)))
		_, err := c.Reserve(callCtx(t, 300*time.Millisecond), reserveReq())
		wantCode(t, "slow Reserve with a 300ms caller deadline", err, codes.DeadlineExceeded)
		if remaining := <-seen; remaining > 300*time.Millisecond {
			t.Errorf("handler saw %v left, want at most the caller's 300ms", remaining)
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
