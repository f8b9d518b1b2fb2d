package meshtest_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/internal/meshtest"
)

// A service with no instance left fails calls fast with UNAVAILABLE, so a
// caller can answer its own caller instead of holding the request until
// the deadline.
func TestMesh_EmptyServiceFailsFast(t *testing.T) {
	const deadline, fast = 5 * time.Second, time.Second
	for _, tc := range []struct {
		name string
		// empty leaves the service with no instance that can answer.
		empty func(t *testing.T, m *meshtest.Mesh, backends []*meshtest.Backend)
		// started is how many backends run, and serve, before empty.
		started int
	}{
		{"never registered", func(*testing.T, *meshtest.Mesh, []*meshtest.Backend) {}, 0},
		{"every instance stopped in order", func(t *testing.T, m *meshtest.Mesh, bs []*meshtest.Backend) {
			for _, b := range bs {
				if err := b.Stop(stopCtx(t)); err != nil {
					t.Fatalf("stop %s: %v", b.Name(), err)
				}
			}
		}, 2},
		// Keys still registered until their leases expire, but nobody
		// listening: the broken connections alone must fail calls fast.
		{"every instance killed, keys not yet expired", func(t *testing.T, m *meshtest.Mesh, bs []*meshtest.Backend) {
			for _, b := range bs {
				b.Kill()
			}
		}, 2},
	} {
		for _, balancer := range []string{grpcx.RoundRobin, grpcx.LeastRequest} {
			t.Run(tc.name+"/"+balancer, func(t *testing.T) {
				m := meshtest.New(t)
				var bs []*meshtest.Backend
				for i := range tc.started {
					// A TTL far beyond the test, so only a revoke removes a key.
					bs = append(bs, m.StartBackend(t, string(rune('a'+i)), meshtest.WithTTL(30*time.Second)))
				}
				client := m.Client(t, "order", grpcx.Policy{Balancer: balancer, Retryable: api.Idempotent[meshtest.Service]})
				if len(bs) > 0 {
					warm(t, client, bs...)
				}
				tc.empty(t, m, bs)

				var took []time.Duration
				for i := range 3 {
					r := getProduct(context.Background(), client, deadline)
					d := r.end.Sub(r.start)
					took = append(took, d.Round(time.Millisecond))
					if status.Code(r.err) != codes.Unavailable {
						t.Fatalf("call %d: got %v after %v, want UNAVAILABLE", i, r.err, d)
					}
					if d > fast {
						t.Errorf("call %d failed after %v, want UNAVAILABLE within %v, well before its %v deadline", i, d, fast, deadline)
					}
				}
				var keys int64
				for _, b := range bs {
					resp, err := m.KV.Get(t.Context(), b.Key())
					if err != nil {
						t.Fatalf("get %s: %v", b.Key(), err)
					}
					keys += resp.Count
				}
				t.Logf("3 calls failed with UNAVAILABLE after %v; %d of %d keys still registered", took, keys, len(bs))
			})
		}
	}
}
