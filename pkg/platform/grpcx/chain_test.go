package grpcx_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/deadline"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
)

// hops is the length of the chain runChain builds: a request crosses three
// servers, as an order crosses gateway → order → payment → provider.
const hops = 3

// chainResult is what a chain of hops did with its requests.
type chainResult struct {
	// expired counts the requests that ran out of time: DEADLINE_EXCEEDED
	// when the client's own deadline passed, UNAVAILABLE when a hop's
	// budget ended first and the hop before it still had time to say so.
	requests, ok, expired, other int64
	// started counts the calls each hop began to work on, late those of
	// them begun with less than deadline.MinBudget left, or none: the work
	// rule 4 says is never started.
	started, late [hops]int64
}

// runChain sends n requests from workers goroutines through three grpcx
// servers over mTLS (client → hop 1 → hop 2 → hop 3), each request with
// budget left. Each hop works a random time up to maxWork without looking
// at its context, and then calls the next hop with the context it was
// given, whatever is left of it. With budget below hops × maxWork, many requests run
// out of time somewhere along the chain.
func runChain(tb testing.TB, n, workers int, budget, maxWork time.Duration) chainResult {
	tb.Helper()
	p := newPKI(tb)
	rules := grpcx.WithAllowedCallers(map[string][]string{
		"/" + inventoryv1.InventoryService_ServiceDesc.ServiceName + "/": {grpcx.AnyCaller}})
	var started, late [hops]atomic.Int64
	// Built from the last hop back, so each knows the client of the next.
	var next inventoryv1.InventoryServiceClient
	for hop := hops - 1; hop >= 0; hop-- {
		down := next
		fake := &fakeInventory{}
		fake.getProduct = func(ctx context.Context, req *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
			if dl, ok := ctx.Deadline(); !ok || time.Until(dl) < deadline.MinBudget {
				late[hop].Add(1)
			}
			started[hop].Add(1)
			// Work that finishes once begun, as a database write does, so
			// the next hop is called with whatever is left, little or
			// nothing included: what the platform must not send on.
			time.Sleep(rand.N(maxWork + 1)) //shopmesh:allow ctxdrop work that runs to its end on purpose
			if down == nil {
				return &inventoryv1.GetProductResponse{Product: &inventoryv1.Product{Id: req.GetId()}}, nil
			}
			return down.GetProduct(ctx, req)
		}
		_, addr := startServer(tb, p.id(tb, "inventory"), fake, rules)
		next = inventoryClient(tb, newConns(tb, p.id(tb, "order"), addr))
	}
	first := next

	var res chainResult
	var ok, expired, other, sent atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for sent.Add(1) <= int64(n) {
				ctx, cancel := context.WithTimeout(tb.Context(), budget)
				_, err := first.GetProduct(ctx, &inventoryv1.GetProductRequest{Id: "p-1001"})
				cancel()
				switch status.Code(err) {
				case codes.OK:
					ok.Add(1)
				case codes.DeadlineExceeded, codes.Unavailable:
					expired.Add(1)
				default:
					other.Add(1)
					tb.Errorf("request through the chain: %v, want success, DEADLINE_EXCEEDED or UNAVAILABLE", err)
				}
			}
		})
	}
	wg.Wait()
	res.requests, res.ok, res.expired, res.other = int64(n), ok.Load(), expired.Load(), other.Load()
	for i := range hops {
		res.started[i], res.late[i] = started[i].Load(), late[i].Load()
	}
	return res
}

// TestChain_NoWorkAfterDeadline sends requests with 300 ms left through
// three hops that each may take up to 250 ms: most run out of time along
// the way, about a third before they reach the last hop, and no hop may
// begin work on a call with less than deadline.MinBudget left (rule 4:
// work past its deadline is never started; the platform refuses to send a
// call so close to its end, and a server to start one).
func TestChain_NoWorkAfterDeadline(t *testing.T) {
	t.Parallel()
	res := runChain(t, 160, 8, 300*time.Millisecond, 250*time.Millisecond)
	t.Logf("%+v", res)
	for i, n := range res.late {
		if n != 0 {
			t.Errorf("hop %d began %d of its %d calls with less than %v left, want 0", i+1, n, res.started[i], deadline.MinBudget)
		}
	}
	// The scenario must have happened for the count to mean anything: some
	// requests ended in time, some ran out, and the hops further down were
	// spared the work of those that ran out before reaching them.
	if res.ok == 0 || res.expired == 0 {
		t.Errorf("%d answered, %d ran out of time; want both, or the chain tested nothing", res.ok, res.expired)
	}
	if res.started[0] != res.requests || res.started[hops-1] >= res.started[0] {
		t.Errorf("hops started %v calls for %d requests; want every request at hop 1 and fewer at hop %d",
			res.started, res.requests, hops)
	}
}

// BenchmarkChain measures the same: per iteration 200 requests with 300 ms
// left through three hops of up to 250 ms each, from 8 goroutines; it
// reports how many ran out of time, how many reached the last hop, and how
// many calls any hop began with less than deadline.MinBudget left (docs/benchmarks.md,
// "Budgets through three hops").
func BenchmarkChain(b *testing.B) {
	var total chainResult
	for b.Loop() {
		res := runChain(b, 200, 8, 300*time.Millisecond, 250*time.Millisecond)
		total.requests += res.requests
		total.expired += res.expired
		for i := range hops {
			total.started[i] += res.started[i]
			total.late[i] += res.late[i]
		}
	}
	var late int64
	for _, n := range total.late {
		late += n
	}
	b.ReportMetric(float64(total.requests), "requests")
	b.ReportMetric(100*float64(total.expired)/float64(total.requests), "expired-%")
	b.ReportMetric(100*float64(total.started[hops-1])/float64(total.requests), "reached-last-hop-%")
	b.ReportMetric(float64(late), "started-past-budget")
}
