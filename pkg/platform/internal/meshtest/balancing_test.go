package meshtest_test

import (
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/internal/meshtest"
)

// With one slow instance, round-robin gives it its third of the calls no
// matter how it lags; least-request sees the calls piling up on it and sends
// it measurably less.
func TestMesh_LeastRequestAvoidsSlowInstance(t *testing.T) {
	const workers, perWorker = 8, 100
	m := meshtest.New(t)
	fast1 := m.StartBackend(t, "fast-1", meshtest.WithDelay(time.Millisecond))
	fast2 := m.StartBackend(t, "fast-2", meshtest.WithDelay(time.Millisecond))
	slow := m.StartBackend(t, "slow", meshtest.WithDelay(50*time.Millisecond))

	share := func(balancer string) (float64, time.Duration) {
		t.Helper()
		client := m.Client(t, "gateway", grpcx.Policy{Balancer: balancer})
		warm(t, client, fast1, fast2, slow)
		start := time.Now()
		calls := runCalls(client, workers, perWorker, 2*time.Second)
		took := time.Since(start)
		if failed := failures(calls); len(failed) > 0 {
			t.Fatalf("%s: %d calls, %s; want none to fail", balancer, len(calls), describe(failed))
		}
		served := servedBy(calls)
		t.Logf("%s: served %v in %v", balancer, served, took.Round(time.Millisecond))
		return float64(served[slow.Name()]) / float64(len(calls)), took
	}
	rr, rrTook := share(grpcx.RoundRobin)
	lr, lrTook := share(grpcx.LeastRequest)
	t.Logf("slow instance's share: round-robin %.1f%%, least-request %.1f%%; the same %d calls took %v and %v",
		100*rr, 100*lr, workers*perWorker, rrTook.Round(time.Millisecond), lrTook.Round(time.Millisecond))
	if lr >= rr/2 {
		t.Errorf("slow instance's share under least-request %.1f%%, want under half of round-robin's %.1f%%", 100*lr, 100*rr)
	}
}
