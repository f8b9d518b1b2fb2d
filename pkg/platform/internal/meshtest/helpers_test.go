package meshtest_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/status"

	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/internal/meshtest"
)

// call is one GetProduct call as its caller saw it.
type call struct {
	start, end time.Time
	by         string // the name of the backend that answered; empty on error
	err        error
}

// getProduct makes one call with its own deadline.
func getProduct(ctx context.Context, c inventoryv1.InventoryServiceClient, deadline time.Duration) call {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	cl := call{start: time.Now()}
	resp, err := c.GetProduct(ctx, &inventoryv1.GetProductRequest{Id: "p1"})
	cl.end, cl.err = time.Now(), err
	if err == nil {
		cl.by = resp.GetProduct().GetName()
	}
	return cl
}

// load is a steady stream of GetProduct calls from several goroutines, each
// call with its own deadline, until stop.
type load struct {
	stopc chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
	mu    sync.Mutex
	calls []call
}

// maxCallsPerWorker bounds a load that nobody stops in time.
const maxCallsPerWorker = 20000

// startLoad starts workers goroutines calling c back to back, with a short
// pause between calls. The test's end stops them if the test does not.
func startLoad(t *testing.T, c inventoryv1.InventoryServiceClient, workers int, deadline time.Duration) *load {
	t.Helper()
	l := &load{stopc: make(chan struct{})}
	for range workers {
		l.wg.Go(func() {
			for range maxCallsPerWorker {
				select {
				case <-l.stopc:
					return
				default:
				}
				cl := getProduct(context.Background(), c, deadline)
				l.mu.Lock()
				l.calls = append(l.calls, cl)
				l.mu.Unlock()
				time.Sleep(time.Millisecond)
			}
		})
	}
	t.Cleanup(func() { l.stop() })
	return l
}

// stop ends the load, waits for the calls in flight and returns every call.
func (l *load) stop() []call {
	l.once.Do(func() { close(l.stopc) })
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]call(nil), l.calls...)
}

// runCalls makes workers×perWorker calls from workers goroutines at once and
// returns them.
func runCalls(c inventoryv1.InventoryServiceClient, workers, perWorker int, deadline time.Duration) []call {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		calls []call
	)
	for range workers {
		wg.Go(func() {
			for range perWorker {
				cl := getProduct(context.Background(), c, deadline)
				mu.Lock()
				calls = append(calls, cl)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return calls
}

// servedBy counts calls per backend that answered them.
func servedBy(calls []call) map[string]int {
	n := map[string]int{}
	for _, c := range calls {
		if c.err == nil {
			n[c.by]++
		}
	}
	return n
}

// failures returns the calls that failed.
func failures(calls []call) []call {
	var out []call
	for _, c := range calls {
		if c.err != nil {
			out = append(out, c)
		}
	}
	return out
}

// describe summarizes failed calls for a failure message: how many, and the
// distinct errors with their counts.
func describe(failed []call) string {
	byErr := map[string]int{}
	for _, c := range failed {
		st, _ := status.FromError(c.err)
		byErr[fmt.Sprintf("%v: %s", st.Code(), st.Message())]++
	}
	keys := make([]string, 0, len(byErr))
	for k := range byErr {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%d failed calls", len(failed))
	for _, k := range keys {
		fmt.Fprintf(&b, "; %d× %s", byErr[k], k)
	}
	return b.String()
}

// between returns the calls that started in [from, to).
func between(calls []call, from, to time.Time) []call {
	var out []call
	for _, c := range calls {
		if !c.start.Before(from) && c.start.Before(to) {
			out = append(out, c)
		}
	}
	return out
}

// warm calls until every backend has answered at least once, so the client
// holds a ready connection to each before the test measures anything.
func warm(t testing.TB, c inventoryv1.InventoryServiceClient, backends ...*meshtest.Backend) {
	t.Helper()
	seen := map[string]bool{}
	deadline := time.Now().Add(5 * time.Second)
	for {
		missing := 0
		for _, b := range backends {
			if !seen[b.Name()] {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("warm-up: after 5s only %v of %d backends answered", seen, len(backends))
		}
		if cl := getProduct(t.Context(), c, time.Second); cl.err == nil {
			seen[cl.by] = true
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// stopCtx is a context for one ordered Stop.
func stopCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
