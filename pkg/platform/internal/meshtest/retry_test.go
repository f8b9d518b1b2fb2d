package meshtest_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shopmesh/shopmesh/pkg/api"
	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/internal/meshtest"
)

// getProductOnly is a policy that may retry reads of one product and
// nothing else.
var getProductOnly = grpcx.Policy{Retryable: []string{"inventory.v1.InventoryService/GetProduct"}}

// calls sums the GetProduct handler runs of backends.
func handled(backends ...*meshtest.Backend) int64 {
	var n int64
	for _, b := range backends {
		n += b.Calls()
	}
	return n
}

// Retries are gRPC's, from the service config grpcx writes: only for the
// methods a Policy names, only on UNAVAILABLE, onto another instance, and
// throttled once most calls fail.
func TestMesh_Retries(t *testing.T) {
	m := meshtest.New(t)
	sick := m.StartBackend(t, "sick")
	b := m.StartBackend(t, "b")
	c := m.StartBackend(t, "c")

	// client returns a fresh client (fresh retry budget) that holds a ready
	// connection to every instance, then makes sick fail with UNAVAILABLE.
	client := func(t *testing.T, p grpcx.Policy) *meshtest.Client {
		t.Helper()
		for _, be := range []*meshtest.Backend{sick, b, c} {
			be.FailWith(codes.OK)
		}
		cl := m.Client(t, "order", p)
		warm(t, cl, sick, b, c)
		sick.FailWith(codes.Unavailable)
		return cl
	}

	t.Run("a retryable method is retried on another instance", func(t *testing.T) {
		cl := client(t, grpcx.Policy{Retryable: api.Idempotent[meshtest.Service]})
		const n = 6 // few enough that the throttle never engages
		sick0, healthy0 := sick.Calls(), handled(b, c)
		for i := range n {
			if r := getProduct(t.Context(), cl, time.Second); r.err != nil {
				t.Fatalf("call %d: %v, want it retried on a healthy instance", i, r.err)
			}
		}
		failedOnSick, servedByHealthy := sick.Calls()-sick0, handled(b, c)-healthy0
		if failedOnSick == 0 || servedByHealthy != n {
			t.Errorf("sick ran %d times, b and c %d; want sick ≥ 1 and b and c exactly %d (one success per call)", failedOnSick, servedByHealthy, n)
		}
		t.Logf("%d calls, all succeeded; %d first went to the sick instance and were retried", n, failedOnSick)
	})

	t.Run("a method not listed is not retried", func(t *testing.T) {
		cl := client(t, getProductOnly)
		const n = 9
		sick0, healthy0 := sick.ReserveCalls(), b.ReserveCalls()+c.ReserveCalls()
		failed := 0
		for i := range n {
			_, err := cl.Reserve(t.Context(), &inventoryv1.ReserveRequest{OrderId: "o1", Items: []*inventoryv1.Item{{ProductId: "p1", Quantity: 1}}})
			switch status.Code(err) {
			case codes.OK:
			case codes.Unavailable:
				failed++
			default:
				t.Fatalf("Reserve %d: %v, want OK or UNAVAILABLE", i, err)
			}
		}
		onSick, onHealthy := sick.ReserveCalls()-sick0, b.ReserveCalls()+c.ReserveCalls()-healthy0
		if failed == 0 || int64(failed) != onSick || int64(n-failed) != onHealthy {
			t.Errorf("%d of %d Reserves failed; sick ran %d, b and c %d; want ≥ 1 failed, and each failure one run on sick and nothing else",
				failed, n, onSick, onHealthy)
		}
		var attempts int
		for _, at := range cl.Attempts.All() {
			if at.Method == inventoryv1.InventoryService_Reserve_FullMethodName {
				attempts++
			}
		}
		if attempts != n {
			t.Errorf("the client made %d Reserve attempts for %d calls, want exactly one each", attempts, n)
		}
		t.Logf("%d Reserves: %d failed with UNAVAILABLE after one run on the sick instance, none retried", n, failed)
	})

	t.Run("retries are throttled when most calls fail", func(t *testing.T) {
		cl := client(t, grpcx.Policy{Retryable: api.Idempotent[meshtest.Service]})
		b.FailWith(codes.Unavailable) // two of three instances sick
		const n = 150
		runs0 := handled(sick, b, c)
		ok := 0
		for range n {
			if r := getProduct(t.Context(), cl, time.Second); r.err == nil {
				ok++
			}
		}
		runs := handled(sick, b, c) - runs0
		// Unthrottled, a failing call runs up to 3 times. The throttle
		// (10 tokens, 0.1 back per success) allows about 5 retries, then
		// none until successes refill it.
		if runs > n+n/5 {
			t.Errorf("%d calls ran the handlers %d times, want at most %d: retries storm a sick service", n, runs, n+n/5)
		}
		t.Logf("two of three instances failing: %d calls, %d succeeded, %d handler runs (%.2f per call; unthrottled up to 3)",
			n, ok, runs, float64(runs)/n)
	})
}
