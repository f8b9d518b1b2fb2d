package discovery_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/discovery"
	"github.com/shopmesh/shopmesh/pkg/platform/internal/etcdtest"
)

// Fault tests: etcd goes away, loses its leader, compacts away what a watch
// had not seen yet. Each runs a steady stream of calls and asserts what the
// callers saw.

// newClient makes an etcd client the way services do (discovery.NewClient),
// closed when the test ends.
func newClient(t *testing.T, endpoints ...string) *clientv3.Client {
	t.Helper()
	cli, err := discovery.NewClient(endpoints, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// load makes calls one after another until the test ends and counts which
// backend served each; failures are kept with the time they happened.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	served   map[string]int // since the last mark
	calls    int            // since the last mark
	failures []string       // since the start
}

func startLoad(t *testing.T, api inventoryv1.InventoryServiceClient) *load {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel, served: map[string]int{}}
	l.wg.Go(func() {
		for ctx.Err() == nil {
			callCtx, done := context.WithTimeout(ctx, 2*time.Second)
			resp, err := api.GetProduct(callCtx, &inventoryv1.GetProductRequest{Id: "x"})
			done()
			l.mu.Lock()
			switch {
			case err == nil:
				l.served[resp.GetProduct().GetId()]++
				l.calls++
			case ctx.Err() == nil:
				l.failures = append(l.failures, fmt.Sprintf("%s: %v", time.Now().Format("15:04:05.000"), err))
				l.calls++
			}
			l.mu.Unlock()
			// Leave the CPU to etcd and the servers under the race detector.
			time.Sleep(2 * time.Millisecond)
		}
	})
	t.Cleanup(l.stop)
	return l
}

func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

// mark starts a new counting window.
func (l *load) mark() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.served, l.calls = map[string]int{}, 0
}

// window returns who served the calls since the last mark, and how many
// calls were made.
func (l *load) window() (map[string]int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.served), l.calls
}

func (l *load) failed() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.failures)
}

// waitRouting waits until a window of calls is served by exactly want, each
// of them at least once, and returns how long that took.
func waitRouting(t *testing.T, l *load, timeout time.Duration, want ...string) time.Duration {
	t.Helper()
	start := time.Now()
	sort.Strings(want)
	for {
		l.mark()
		windowEnd := time.Now().Add(2 * time.Second)
		seen, calls := l.window()
		for calls < 30 && time.Now().Before(windowEnd) {
			time.Sleep(10 * time.Millisecond)
			seen, calls = l.window()
		}
		if slices.Equal(slices.Sorted(maps.Keys(seen)), want) {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("calls not served by exactly %v after %v: last window of %d calls %v", want, timeout, calls, seen)
		}
	}
}

// deleteWatch records every delete of a key under the service's prefix, as
// any other client would see it; a registration that survives a fault
// shows none.
type deleteWatch struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	deletes map[string][]time.Time
	err     error
}

func watchDeletes(t *testing.T, cli *clientv3.Client) *deleteWatch {
	t.Helper()
	resp, err := cli.Get(t.Context(), discovery.ServicePrefix(service), clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &deleteWatch{cancel: cancel, deletes: map[string][]time.Time{}}
	// No WithRequireLeader: this observer must ride through failovers
	// without gaps, and the client resumes it from the last revision.
	wch := cli.Watch(ctx, discovery.ServicePrefix(service), clientv3.WithPrefix(),
		clientv3.WithRev(resp.Header.Revision+1), clientv3.WithFilterPut())
	d.wg.Go(func() {
		for resp := range wch {
			d.mu.Lock()
			if err := resp.Err(); err != nil && d.err == nil {
				d.err = err
			}
			for _, ev := range resp.Events {
				d.deletes[string(ev.Kv.Key)] = append(d.deletes[string(ev.Kv.Key)], time.Now())
			}
			d.mu.Unlock()
		}
	})
	t.Cleanup(d.stop)
	return d
}

func (d *deleteWatch) stop() {
	d.cancel()
	d.wg.Wait()
}

// deleted returns how often key was deleted, and the observer's error.
func (d *deleteWatch) deleted(key string) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.deletes[key]), d.err
}

// leaseOf returns the lease key is bound to and the whole seconds it has
// left, as etcd reports them: 0 means less than a second (alive), -1 that
// the lease is gone; 0, -1 when key is not there. A member that does not
// answer yet (it just restarted) is asked again for up to 5s.
func leaseOf(t *testing.T, cli *clientv3.Client, key string) (clientv3.LeaseID, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for {
		id, left, err := leaseTTL(ctx, cli, key)
		if err == nil {
			return id, left
		}
		if ctx.Err() != nil {
			t.Fatalf("lease of %s: %v", key, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func leaseTTL(ctx context.Context, cli *clientv3.Client, key string) (clientv3.LeaseID, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, key)
	if err != nil {
		return 0, -1, err
	}
	if len(resp.Kvs) == 0 || resp.Kvs[0].Lease == 0 {
		return 0, -1, nil
	}
	id := clientv3.LeaseID(resp.Kvs[0].Lease)
	ttl, err := cli.TimeToLive(ctx, id)
	if err != nil {
		return id, -1, err
	}
	return id, ttl.TTL, nil
}

func noFailures(t *testing.T, l *load, when string) {
	t.Helper()
	if f := l.failed(); len(f) > 0 {
		t.Fatalf("%s: %d calls failed, want 0; first: %v", when, len(f), f[:min(len(f), 5)])
	}
}

// TestDiscovery_EtcdDownLongerThanTTL: every call made while etcd is away
// succeeds on the last known set; once it is back, both instances are
// registered again under new leases and the resolver follows changes again.
func TestDiscovery_EtcdDownLongerThanTTL(t *testing.T) {
	const ttl = 2 * time.Second
	etcd := etcdtest.Start(t)
	admin := etcd.Client(t)
	regCli, resCli := newClient(t, etcd.Endpoint), newClient(t, etcd.Endpoint)
	a, b := startBackend(t, "a"), startBackend(t, "b")
	opts := []discovery.RegistrarOption{discovery.WithTTL(ttl), discovery.WithRetryBackoff(100*time.Millisecond, time.Second)}
	ra, rb := register(t, regCli, a.addr, opts...), register(t, regCli, b.addr, opts...)
	l := startLoad(t, dial(t, resCli))
	waitRouting(t, l, 5*time.Second, "a", "b")
	leaseA, _ := leaseOf(t, admin, ra.Key())
	leaseB, _ := leaseOf(t, admin, rb.Key())

	// The outage: longer than the TTL, so both registrars lose their
	// keep-alive and must register again once etcd is back.
	l.mark()
	down := time.Now()
	etcd.Stop()
	t.Logf("etcd stopped in %v", time.Since(down).Round(time.Millisecond))
	// Up to TTL+1s, or 5s for a lease whose first keep-alive was still
	// unanswered (etcd's client waits DialKeepAliveTimeout+1s for that one).
	etcdtest.Eventually(t, 4*ttl, "registrars notice the lost lease", func() bool {
		return !ra.Registered() && !rb.Registered()
	})
	t.Logf("registrars noticed the lost lease %v into the outage", time.Since(down).Round(time.Millisecond))
	time.Sleep(time.Until(down.Add(2 * ttl))) // the outage lasts 2×TTL
	seen, calls := l.window()
	noFailures(t, l, "during the outage")
	if seen["a"] == 0 || seen["b"] == 0 {
		t.Fatalf("during the outage: %d calls served %v, want both a and b", calls, seen)
	}
	t.Logf("outage of %v: %d calls, served %v, 0 failed", time.Since(down).Round(time.Millisecond), calls, seen)

	restart := time.Now()
	etcd.Restart(t)
	back := time.Now()
	t.Logf("etcd restarted in %v", back.Sub(restart).Round(time.Millisecond))
	etcdtest.Eventually(t, 5*time.Second, "both registrars registered again", func() bool {
		return ra.Registered() && rb.Registered()
	})
	t.Logf("registrars registered again %v after etcd returned", time.Since(back).Round(time.Millisecond))
	admin = etcd.Client(t) // a fresh client: the old one may still be in its reconnect backoff
	for _, k := range []struct {
		r   *discovery.Registrar
		old clientv3.LeaseID
	}{{ra, leaseA}, {rb, leaseB}} {
		if id, left := leaseOf(t, admin, k.r.Key()); id == 0 || id == k.old || left < 0 {
			t.Fatalf("%s after etcd returned: lease %x with %ds left, want a new live lease (old %x)", k.r.Key(), id, left, k.old)
		}
	}

	// The old leases, which etcd extended when it restarted, end (revoked
	// once the keys moved off them, or expired); the keys must not go with
	// them.
	etcdtest.Eventually(t, 3*ttl, "old leases gone", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		oa, errA := admin.TimeToLive(ctx, leaseA)
		ob, errB := admin.TimeToLive(ctx, leaseB)
		return errA == nil && errB == nil && oa.TTL == -1 && ob.TTL == -1
	})
	for _, r := range []*discovery.Registrar{ra, rb} {
		if id, ttlLeft := leaseOf(t, admin, r.Key()); id == 0 || ttlLeft < 0 {
			t.Fatalf("%s: lease %x with %ds left after the old lease expired, want a live one", r.Key(), id, ttlLeft)
		}
	}

	// The resolver's view is the registered set again: a newcomer gets
	// traffic, a leaver loses it.
	c := startBackend(t, "c")
	register(t, regCli, c.addr, opts...)
	took := waitRouting(t, l, 5*time.Second, "a", "b", "c")
	t.Logf("c registered after the outage: routed to within %v", took.Round(time.Millisecond))
	if err := ra.Stop(t.Context()); err != nil {
		t.Fatalf("deregister a: %v", err)
	}
	took = waitRouting(t, l, 5*time.Second, "b", "c")
	t.Logf("a deregistered after the outage: out of rotation within %v", took.Round(time.Millisecond))
	noFailures(t, l, "whole test")
}

// TestResolver_RelistsAfterCompaction: a watch that resumes from a revision
// etcd compacted away gets ErrCompacted; the resolver lists again and routes
// to exactly the instances registered, including changes it never saw.
func TestResolver_RelistsAfterCompaction(t *testing.T) {
	cluster := etcdtest.StartCluster(t, 3)
	// The resolver talks to one follower only; registrations and the
	// compaction go through the other two while that follower is down.
	leader := cluster.Leader(t)
	var pinned *etcdtest.Member
	var others []string
	for _, m := range cluster.Members {
		if pinned == nil && m != leader {
			pinned = m
			continue
		}
		others = append(others, m.Endpoint)
	}
	resCli, regCli := newClient(t, pinned.Endpoint), newClient(t, others...)
	admin := newClient(t, others...)
	a, b, c := startBackend(t, "a"), startBackend(t, "b"), startBackend(t, "c")
	ra := register(t, regCli, a.addr)
	rb := register(t, regCli, b.addr)
	builder := newBuilder(t, resCli)
	l := startLoad(t, dialWith(t, builder))
	waitRouting(t, l, 5*time.Second, "a", "b")
	before := discovery.StatsOf(builder)

	// The resolver's watch is now at the revision of its list. Cut it off,
	// change the registrations behind its back, churn and compact past
	// everything it has seen.
	pinned.Kill()
	if err := ra.Stop(t.Context()); err != nil {
		t.Fatalf("deregister a: %v", err)
	}
	register(t, regCli, c.addr)
	for i := range 50 {
		key := fmt.Sprintf("/churn/%d", i%5)
		if _, err := admin.Put(t.Context(), key, "x"); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if _, err := admin.Delete(t.Context(), key); err != nil {
				t.Fatal(err)
			}
		}
	}
	resp, err := admin.Get(t.Context(), "/churn/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Compact(t.Context(), resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("compact: %v", err)
	}
	t.Logf("compacted at revision %d", resp.Header.Revision)

	// The watch resumes from a compacted revision: only a fresh list can
	// tell it that a left and c came.
	pinned.Restart(t)
	took := waitRouting(t, l, 10*time.Second, "b", "c")
	after := discovery.StatsOf(builder)
	t.Logf("view exact %v after the member returned; resolver stats before %+v, after %+v", took.Round(time.Millisecond), before, after)
	if after.Compacted == before.Compacted {
		t.Fatalf("the resolver never saw ErrCompacted (stats %+v): the test did not exercise the compaction path", after)
	}

	// And the watch it started after that list follows changes again.
	d := startBackend(t, "d")
	register(t, regCli, d.addr)
	if err := rb.Stop(t.Context()); err != nil {
		t.Fatalf("deregister b: %v", err)
	}
	waitRouting(t, l, 5*time.Second, "c", "d")
	noFailures(t, l, "whole test")
}

// TestDiscovery_MemberFailover: members die under the clients, leaders
// included, while instances come and go; no call fails, the view ends exact,
// and the instance that stayed is never deregistered.
func TestDiscovery_MemberFailover(t *testing.T) {
	const ttl = 2 * time.Second
	cluster := etcdtest.StartCluster(t, 3)
	eps := cluster.Endpoints()
	regCli, resCli := newClient(t, eps...), newClient(t, eps...)
	deletes := watchDeletes(t, cluster.Client(t))
	opts := []discovery.RegistrarOption{discovery.WithTTL(ttl), discovery.WithRetryBackoff(100*time.Millisecond, time.Second)}

	stay := startBackend(t, "stay")
	rStay := register(t, regCli, stay.addr, opts...)
	stayLease, _ := leaseOf(t, cluster.Client(t), rStay.Key())
	first := startBackend(t, "r0")
	prev := register(t, regCli, first.addr, opts...)
	l := startLoad(t, dial(t, resCli))
	waitRouting(t, l, 5*time.Second, "stay", "r0")

	// Kill every member once, restarting each victim before the next round,
	// so whichever members the clients' streams are on die under them. A
	// round kills the leader if it has not died yet (a real failover: an
	// election), else the member that has not. During each round a new
	// instance registers and the previous one leaves.
	dead := map[*etcdtest.Member]bool{}
	for round := 1; round <= 3; round++ {
		victim := cluster.Leader(t)
		for _, m := range cluster.Members {
			if dead[victim] && !dead[m] {
				victim = m
			}
		}
		dead[victim] = true
		wasLeader := victim.IsLeader()
		killed := time.Now()
		victim.Kill()
		name := fmt.Sprintf("r%d", round)
		be := startBackend(t, name)
		r, err := discovery.NewRegistrar(regCli, service, discovery.Instance{Addr: be.addr}, append(opts, discovery.WithLogger(quiet))...)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Stop(context.Background()) })
		stopCtx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		stopping := time.Now()
		err = prev.Stop(stopCtx)
		cancel()
		if err != nil {
			t.Fatalf("round %d: deregister during failover: %v", round, err)
		}
		stopTook := time.Since(stopping)
		waitRouting(t, l, 10*time.Second, "stay", name)
		t.Logf("round %d: killed %s (leader: %v); revoke during the failover took %v; view exact %v after the kill",
			round, victim.Name, wasLeader, stopTook.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
		victim.Restart(t)
		prev = r
	}
	noFailures(t, l, "failovers")
	if n, err := deletes.deleted(rStay.Key()); n != 0 || err != nil {
		t.Fatalf("the instance that stayed was deleted %d times (observer error %v): its registration did not survive", n, err)
	}
	id, left := leaseOf(t, cluster.Client(t), rStay.Key())
	if id == 0 || left < 0 {
		t.Fatalf("after the failovers %s has lease %x with %ds left, want a live one", rStay.Key(), id, left)
	}
	t.Logf("the instance that stayed: never deleted; lease %x before, %x after", stayLease, id)
}

// TestDiscovery_QuorumLoss takes two of three members away for longer than
// etcd needs to cancel leader-requiring streams (a few election timeouts)
// but shorter than the lease TTL: the leases survive, the watches do not.
func TestDiscovery_QuorumLoss(t *testing.T) {
	const ttl = 5 * time.Second
	cluster := etcdtest.StartCluster(t, 3)
	eps := cluster.Endpoints()
	regCli, resCli := newClient(t, eps...), newClient(t, eps...)
	admin := cluster.Client(t)
	deletes := watchDeletes(t, admin)
	opts := []discovery.RegistrarOption{discovery.WithTTL(ttl), discovery.WithRetryBackoff(100*time.Millisecond, time.Second)}
	a, b := startBackend(t, "a"), startBackend(t, "b")
	ra := register(t, regCli, a.addr, opts...)
	register(t, regCli, b.addr, opts...)
	builder := newBuilder(t, resCli)
	l := startLoad(t, dialWith(t, builder))
	waitRouting(t, l, 5*time.Second, "a", "b")
	leaseA, _ := leaseOf(t, admin, ra.Key())

	lost := time.Now()
	cluster.Members[1].Kill()
	cluster.Members[2].Kill()
	// etcd cancels leader-requiring streams after 3 election timeouts
	// without a leader (1.5s here), counted from when the survivor gives
	// up on the old leader. The resolver's watch is one of them; the
	// registrars' key watches, on the same member, go with it.
	etcdtest.Eventually(t, ttl-time.Second, "the resolver's watch cancelled for want of a leader", func() bool {
		return discovery.StatsOf(builder).WatchFailed > 0
	})
	t.Logf("watches cancelled %v after the quorum was lost", time.Since(lost).Round(time.Millisecond))
	cluster.Members[1].Restart(t)
	cluster.Members[2].Restart(t)
	t.Logf("quorum lost for %v", time.Since(lost).Round(time.Millisecond))
	cluster.Leader(t)
	noFailures(t, l, "quorum loss")
	if n, _ := deletes.deleted(ra.Key()); n != 0 {
		t.Fatalf("a deleted %d times during a quorum loss shorter than its TTL", n)
	}
	if id, left := leaseOf(t, admin, ra.Key()); id != leaseA || left < 0 {
		t.Fatalf("a's lease after a quorum loss shorter than its TTL: %x (%ds left), want the old one %x alive", id, left, leaseA)
	}

	// An operator deletes a's key: the registrar must notice and put it
	// back, even though its lease never expired.
	deleted := time.Now()
	if _, err := admin.Delete(t.Context(), ra.Key()); err != nil {
		t.Fatal(err)
	}
	etcdtest.Eventually(t, 5*time.Second, "a registered again after its key was deleted", func() bool {
		id, left := leaseOf(t, admin, ra.Key())
		return id != 0 && left >= 0
	})
	t.Logf("a's key put back %v after it was deleted", time.Since(deleted).Round(time.Millisecond))
	waitRouting(t, l, 5*time.Second, "a", "b")
	noFailures(t, l, "whole test")
}
