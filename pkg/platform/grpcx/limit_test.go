package grpcx_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/overload"
)

// tightLimit admits two calls per method and queues almost none.
func tightLimit() *overload.Limiter {
	return overload.New(overload.Options{Name: "test", MinLimit: 2, InitialLimit: 2, MaxLimit: 2, MaxWait: time.Millisecond})
}

func TestServer_Limiter(t *testing.T) {
	t.Parallel()
	p := newPKI(t)

	t.Run("calls beyond the limit are refused at once, UNAVAILABLE with reason OVERLOADED", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		fake := &fakeInventory{}
		fake.reserve = func(ctx context.Context, _ *inventoryv1.ReserveRequest) (*inventoryv1.ReserveResponse, error) {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return &inventoryv1.ReserveResponse{}, nil
		}
		var logs logBuffer
		_, addr := startServer(t, p.id(t, "inventory"), fake, grpcx.WithLimiter(tightLimit()),
			grpcx.WithServerLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
		// A raw connection: no client retries to hide the refusals.
		client := inventoryv1.NewInventoryServiceClient(rawConn(t, p.id(t, "order"), addr))

		const calls = 12
		errs := make([]error, calls)
		var answered atomic.Int32
		var wg sync.WaitGroup
		for i := range calls {
			wg.Go(func() {
				_, errs[i] = client.Reserve(callCtx(t, 10*time.Second), reserveReq())
				answered.Add(1)
			})
		}
		eventually(t, 5*time.Second, "two calls admitted", func() bool { return fake.reserveCalls.Load() == 2 })
		// The refused ones have answered while the admitted ones still
		// run; only the queue (at most 4 × the limit) may still wait.
		eventually(t, 5*time.Second, "the rest refused", func() bool { return answered.Load() >= calls-2-8 })
		// Health is never limited.
		if _, err := inventoryv1.NewInventoryServiceClient(rawConn(t, p.id(t, "order"), addr)).GetProduct(callCtx(t, time.Second), &inventoryv1.GetProductRequest{}); err != nil {
			t.Errorf("another method while Reserve is full: %v, want it served (limits are per method)", err)
		}
		close(release)
		wg.Wait()
		refused := 0
		for i, err := range errs {
			if err == nil {
				continue
			}
			st := status.Convert(err)
			if st.Code() != codes.Unavailable || reasonOf(st) != overload.Reason {
				t.Errorf("call %d: %v, want UNAVAILABLE with reason OVERLOADED", i, err)
			}
			refused++
		}
		if got := int(fake.reserveCalls.Load()); got+refused != calls || refused == 0 {
			t.Errorf("%d calls ran and %d were refused of %d, want every call one or the other and some refused", got, refused, calls)
		}
		// Under overload a refusal costs one log line, at debug (the
		// refusals outnumber the calls served): no dependency failed.
		if n := strings.Count(logs.String(), `level=DEBUG msg="grpc call" method=/inventory.v1.InventoryService/Reserve code=Unavailable`); n != refused {
			t.Errorf("%d refused calls logged at debug, want %d:\n%s", n, refused, logs.String())
		}
		if strings.Contains(logs.String(), "dependency failed") {
			t.Errorf("a refusal of this server's own was logged as a dependency failure:\n%s", logs.String())
		}
	})

	t.Run("a call waiting for a peer gives its permit back", func(t *testing.T) {
		t.Parallel()
		// back is the peer: its GetProduct waits until released.
		release := make(chan struct{})
		backFake := &fakeInventory{}
		backFake.getProduct = func(ctx context.Context, _ *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return &inventoryv1.GetProductResponse{}, nil
		}
		_, backAddr := startServer(t, p.id(t, "inventory"), backFake)
		peer := inventoryClient(t, newConns(t, p.id(t, "order"), backAddr))

		// front has a limit of 2, and each Reserve waits for the peer.
		front := &fakeInventory{}
		front.reserve = func(ctx context.Context, _ *inventoryv1.ReserveRequest) (*inventoryv1.ReserveResponse, error) {
			_, err := peer.GetProduct(ctx, &inventoryv1.GetProductRequest{})
			return &inventoryv1.ReserveResponse{}, err
		}
		_, frontAddr := startServer(t, p.id(t, "inventory"), front, grpcx.WithLimiter(tightLimit()))
		client := inventoryv1.NewInventoryServiceClient(rawConn(t, p.id(t, "order"), frontAddr))

		const calls = 8
		errs := make([]error, calls)
		var wg sync.WaitGroup
		for i := range calls {
			wg.Go(func() { _, errs[i] = client.Reserve(callCtx(t, 10*time.Second), reserveReq()) })
			// One at a time, so no call waits on another's admission.
			eventually(t, 5*time.Second, "the call reaches the peer", func() bool { return int(backFake.getCalls.Load()) == i+1 })
		}
		close(release)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("call %d: %v; want all %d admitted although the limit is 2: they wait on the peer, not on this server", i, err, calls)
			}
		}
	})
}

func reasonOf(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}
