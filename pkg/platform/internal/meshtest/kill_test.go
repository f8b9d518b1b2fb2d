package meshtest_test

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/internal/meshtest"
)

// A SIGKILLed instance revokes nothing and drains nothing. The client must
// not lose a call to it (the connection breaks, the balancer drops the
// instance, calls caught in flight are retried elsewhere), and its key must
// go with its lease, not sooner.
func TestMesh_KilledInstance(t *testing.T) {
	const ttl = 2 * time.Second
	m := meshtest.New(t)
	// Calls take 10ms, so some are in flight on the victim when it dies:
	// those must be retried, not lost.
	opts := []meshtest.BackendOption{meshtest.WithTTL(ttl), meshtest.WithDelay(10 * time.Millisecond)}
	a := m.StartBackend(t, "a", opts...)
	b := m.StartBackend(t, "b", opts...)
	victim := m.StartBackend(t, "victim", opts...)
	client := m.Client(t, "order", grpcx.Policy{Retryable: api.Idempotent[meshtest.Service]})
	warm(t, client, a, b, victim)

	// Watch for the victim's key going away, from before the kill.
	wctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	deleted := m.KV.Watch(wctx, victim.Key(), clientv3.WithFilterPut())

	l := startLoad(t, client, 4, time.Second)
	time.Sleep(500 * time.Millisecond)
	killedAt := time.Now()
	victim.Kill()
	renewed := victim.LastRenewed()

	var goneAt time.Time
	select {
	case resp, ok := <-deleted:
		if !ok || resp.Err() != nil || len(resp.Events) == 0 {
			t.Fatalf("watch on %s ended without a delete: %v", victim.Key(), resp.Err())
		}
		goneAt = time.Now()
	case <-time.After(ttl + 3*time.Second):
		t.Fatalf("key %s still registered %v after the kill: the lease did not expire", victim.Key(), ttl+3*time.Second)
	}
	// Keep calling a little after the registry dropped it, too.
	time.Sleep(300 * time.Millisecond)
	calls := l.stop()

	if failed := failures(calls); len(failed) > 0 {
		t.Errorf("%d calls, %s; want none to fail", len(calls), describe(failed))
	}
	after := servedBy(between(calls, killedAt.Add(100*time.Millisecond), time.Now()))
	if after["a"] == 0 || after["b"] == 0 || after["victim"] != 0 {
		t.Errorf("after the kill: served %v, want a and b and no victim", after)
	}

	// The key went with the lease: not before a TTL after etcd last renewed
	// it (a revoke would have deleted it within milliseconds of the kill),
	// and within a second of the TTL (etcd checks expiry every 500ms).
	if since := killedAt.Sub(renewed); since > ttl/2 {
		t.Fatalf("the victim's lease was last renewed %v before the kill, want within TTL/3 = %v: keep-alives were not seen", since, ttl/3)
	}
	expiry := renewed.Add(ttl)
	if goneAt.Before(expiry.Add(-100 * time.Millisecond)) {
		t.Errorf("key deleted %v after the kill, %v before its lease could expire: it was revoked, not expired",
			goneAt.Sub(killedAt), expiry.Sub(goneAt))
	}
	if goneAt.Sub(killedAt) > ttl+time.Second {
		t.Errorf("key deleted %v after the kill, want within TTL+1s = %v", goneAt.Sub(killedAt), ttl+time.Second)
	}

	// Time to drop: how long the client kept sending attempts to the dead
	// address after the kill. The attempts in flight at the kill failed
	// (the connection broke) and were retried on another instance.
	var lastTry time.Time
	var cut []time.Duration // when each in-flight attempt learned of the kill
	for _, at := range client.Attempts.To(victim.Addr()) {
		if at.Start.After(lastTry) {
			lastTry = at.Start
		}
		if at.Err != nil {
			cut = append(cut, at.End.Sub(killedAt))
		}
	}
	drop := max(lastTry.Sub(killedAt), 0)
	if drop > time.Second {
		t.Errorf("the client still sent attempts to the killed instance %v after the kill, want it out of rotation within 1s", drop)
	}
	t.Logf("%d calls, %d failed; served after the kill %v", len(calls), len(failures(calls)), after)
	t.Logf("time to drop the killed instance: %v (last attempt sent to it at %+v from the kill); %d attempts in flight on it failed, %v after the kill, and were retried",
		drop, lastTry.Sub(killedAt), len(cut), cut)
	t.Logf("key deleted %v after the kill, %v after the lease's last renewal (TTL %v)",
		goneAt.Sub(killedAt).Round(time.Millisecond), goneAt.Sub(renewed).Round(time.Millisecond), ttl)
}
