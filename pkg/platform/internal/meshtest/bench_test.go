package meshtest_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shopmesh/shopmesh/pkg/api"
	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/discovery"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/internal/meshtest"
)

// The numbers these benchmarks report are written to docs/discovery.md.
// Run them with `make bench`, which fixes the trial counts
// (-benchtime=100x for propagation, 20x for kills).

// BenchmarkPropagation measures, per trial, how long after a registration
// is put into etcd the first call reaches the new instance, and how long
// after its lease is revoked the last call still starts towards it. Each
// iteration is one trial; the percentiles are over all trials.
func BenchmarkPropagation(b *testing.B) {
	m := meshtest.New(b)
	m.StartBackend(b, "stable")
	target := m.StartBackend(b, "target", meshtest.Unregistered())
	client := m.Client(b, "order", grpcx.Policy{Retryable: api.Idempotent[meshtest.Service]})
	stop := benchLoad(b, client, 4)

	value, err := json.Marshal(discovery.Instance{Addr: target.Addr(), StartedAt: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	key := discovery.Key(meshtest.Service, target.Addr())
	var join, leave []time.Duration
	b.ResetTimer()
	for range b.N {
		ctx := b.Context()
		lease, err := m.KV.Grant(ctx, 10)
		if err != nil {
			b.Fatal(err)
		}
		putAt := time.Now()
		if _, err := m.KV.Put(ctx, key, string(value), clientv3.WithLease(lease.ID)); err != nil {
			b.Fatal(err)
		}
		first := waitAttempt(b, client.Attempts, target.Addr(), putAt)
		join = append(join, first.Sub(putAt))

		revokedAt := time.Now()
		if _, err := m.KV.Revoke(ctx, lease.ID); err != nil {
			b.Fatal(err)
		}
		leave = append(leave, lastAttemptAfter(client.Attempts, target.Addr(), revokedAt, 100*time.Millisecond))
	}
	b.StopTimer()
	calls, failed := stop()
	report(b, "join", join)
	report(b, "leave", leave)
	b.ReportMetric(float64(calls), "calls")
	b.ReportMetric(float64(failed), "failed-calls")
}

// BenchmarkBalancing calls three instances, one of them answering 50 ms
// late, from 8 workers; each iteration is 100 calls per worker. Per
// balancer it reports a call's p50 and p99 and the slow instance's share of
// the calls (docs/benchmarks.md). TestMesh_LeastRequestAvoidsSlowInstance
// asserts the share; this measures it.
func BenchmarkBalancing(b *testing.B) {
	m := meshtest.New(b)
	fast1 := m.StartBackend(b, "fast-1", meshtest.WithDelay(time.Millisecond))
	fast2 := m.StartBackend(b, "fast-2", meshtest.WithDelay(time.Millisecond))
	slow := m.StartBackend(b, "slow", meshtest.WithDelay(50*time.Millisecond))
	for _, balancer := range []string{grpcx.RoundRobin, grpcx.LeastRequest} {
		b.Run(balancer, func(b *testing.B) {
			client := m.Client(b, "gateway", grpcx.Policy{Balancer: balancer})
			warm(b, client, fast1, fast2, slow)
			var all []call
			for b.Loop() {
				all = append(all, runCalls(client, 8, 100, 2*time.Second)...)
			}
			if failed := failures(all); len(failed) > 0 {
				b.Fatalf("%d of %d calls failed: %s", len(failed), len(all), describe(failed))
			}
			took := make([]time.Duration, len(all))
			for i, c := range all {
				took[i] = c.end.Sub(c.start)
			}
			report(b, "call", took)
			b.ReportMetric(100*float64(servedBy(all)[slow.Name()])/float64(len(all)), "slow-share-%")
		})
	}
}

// BenchmarkKilledInstance measures how long calls keep starting towards an
// instance after it is killed (SIGKILL: no revoke, sockets closed by the
// kernel), and counts calls that failed. Each iteration is one kill.
func BenchmarkKilledInstance(b *testing.B) {
	m := meshtest.New(b)
	m.StartBackend(b, "a")
	m.StartBackend(b, "b")
	client := m.Client(b, "order", grpcx.Policy{Retryable: api.Idempotent[meshtest.Service]})
	stop := benchLoad(b, client, 4)

	var drop []time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		victim := m.StartBackend(b, "victim", meshtest.WithTTL(2*time.Second))
		waitAttempt(b, client.Attempts, victim.Addr(), time.Now())
		b.StartTimer()
		killedAt := time.Now()
		victim.Kill()
		drop = append(drop, lastAttemptAfter(client.Attempts, victim.Addr(), killedAt, 200*time.Millisecond))
	}
	b.StopTimer()
	calls, failed := stop()
	report(b, "drop", drop)
	failedAttempts := 0
	for _, a := range client.Attempts.All() {
		if a.Err != nil {
			failedAttempts++
		}
	}
	b.ReportMetric(float64(calls), "calls")
	b.ReportMetric(float64(failed), "failed-calls")
	b.ReportMetric(float64(failedAttempts), "failed-attempts")
}

// benchLoad keeps workers calling until the returned stop is called, which
// reports how many calls were made and how many failed as the caller saw
// them (after retries). Each worker makes at most 200k calls so a forgotten
// stop still ends.
func benchLoad(b *testing.B, c inventoryv1.InventoryServiceClient, workers int) (stop func() (calls, failed int64)) {
	ctx, cancel := context.WithCancel(b.Context())
	var wg sync.WaitGroup
	var n, bad atomic.Int64
	for range workers {
		wg.Go(func() {
			for range 200_000 {
				callCtx, callCancel := context.WithTimeout(ctx, time.Second)
				_, err := c.GetProduct(callCtx, &inventoryv1.GetProductRequest{Id: "p1"})
				callCancel()
				if ctx.Err() != nil {
					return // the call may have been cut by stop itself
				}
				n.Add(1)
				if err != nil {
					bad.Add(1)
				}
				time.Sleep(200 * time.Microsecond)
			}
		})
	}
	return func() (int64, int64) { cancel(); wg.Wait(); return n.Load(), bad.Load() }
}

// waitAttempt returns the start of the first attempt to addr that started
// after since, polling the recorder for up to 10s.
func waitAttempt(b *testing.B, r *meshtest.Attempts, addr string, since time.Time) time.Time {
	b.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		first := time.Time{}
		for _, a := range r.To(addr) {
			if a.Start.After(since) && (first.IsZero() || a.Start.Before(first)) {
				first = a.Start
			}
		}
		if !first.IsZero() {
			return first
		}
		time.Sleep(time.Millisecond)
	}
	b.Fatalf("no call reached %s within 10s", addr)
	return time.Time{}
}

// lastAttemptAfter waits until no attempt to addr has started for quiet,
// then returns how long after since the last one started (0 if none did).
func lastAttemptAfter(r *meshtest.Attempts, addr string, since time.Time, quiet time.Duration) time.Duration {
	var last time.Time
	for {
		for _, a := range r.To(addr) {
			if a.Start.After(since) && a.Start.After(last) {
				last = a.Start
			}
		}
		ref := since
		if !last.IsZero() {
			ref = last
		}
		if time.Since(ref) > quiet {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if last.IsZero() {
		return 0
	}
	return last.Sub(since)
}

// report adds p50, p99 and max of ds, in milliseconds, to the benchmark's output.
func report(b *testing.B, name string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	pct := func(p float64) float64 {
		i := int(p * float64(len(ds)-1))
		return float64(ds[i].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), name+"-p50-ms")
	b.ReportMetric(pct(0.99), name+"-p99-ms")
	b.ReportMetric(float64(ds[len(ds)-1].Microseconds())/1000, name+"-max-ms")
	b.ReportMetric(float64(len(ds)), name+"-trials")
}
