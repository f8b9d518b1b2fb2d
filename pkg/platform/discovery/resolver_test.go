package discovery_test

import (
	"encoding/json"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"

	"github.com/shopmesh/shopmesh/pkg/platform/discovery"
	"github.com/shopmesh/shopmesh/pkg/platform/internal/etcdtest"
)

// fakeCC stands in for gRPC's side of a resolver, so a test can drive the
// resolver (ResolveNow) and read what it pushed.
type fakeCC struct {
	mu     sync.Mutex
	addrs  []string
	pushes int
	errs   int
}

func (f *fakeCC) UpdateState(s resolver.State) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addrs = f.addrs[:0]
	for _, ep := range s.Endpoints {
		f.addrs = append(f.addrs, ep.Addresses[0].Addr)
	}
	f.pushes++
	return nil
}

func (f *fakeCC) ReportError(error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs++
}

func (f *fakeCC) NewAddress([]resolver.Address) {}

func (f *fakeCC) ParseServiceConfig(string) *serviceconfig.ParseResult { return nil }

func (f *fakeCC) state() ([]string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.addrs), f.errs
}

func build(t *testing.T, b *discovery.Builder, cc resolver.ClientConn) resolver.Resolver {
	t.Helper()
	u, err := url.Parse(discovery.Target(service))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r, err := b.Build(resolver.Target{URL: *u}, cc, resolver.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("Build took %v: it must not wait for etcd", took)
	}
	t.Cleanup(r.Close)
	return r
}

func putInstance(t *testing.T, cli *clientv3.Client, addr string) {
	t.Helper()
	v, err := json.Marshal(discovery.Instance{Addr: addr, StartedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(t.Context(), discovery.Key(service, addr), string(v)); err != nil {
		t.Fatal(err)
	}
}

func TestResolver_BacksOffWhileListsFail(t *testing.T) {
	etcd := etcdtest.Start(t)
	// etcd with authentication on rejects the resolver's client, which has
	// no credentials, at once: every list fails in a millisecond, and
	// without a backoff the resolver would list in a tight loop.
	admin := etcd.Client(t)
	for _, step := range []func() error{
		func() error { _, err := admin.UserAdd(t.Context(), "root", "pw"); return err },
		func() error { _, err := admin.UserGrantRole(t.Context(), "root", "root"); return err },
		func() error { _, err := admin.AuthEnable(t.Context()); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("enable auth: %v", err)
		}
	}
	b := newBuilder(t, newClient(t, etcd.Endpoint))
	const first, largest = 20 * time.Millisecond, 200 * time.Millisecond
	discovery.SetListBackoff(b, first, largest)
	cc := &fakeCC{}
	build(t, b, cc)

	etcdtest.Eventually(t, 2*time.Second, "the backoff reaches its cap", func() bool {
		return discovery.StatsOf(b).ListFailures >= 6
	})
	before := discovery.StatsOf(b).Lists
	time.Sleep(time.Second) // a measuring window, not a wait for a condition
	n := discovery.StatsOf(b).Lists - before
	// At the cap each wait is within [largest/2, largest]: 5 to 10 lists a second.
	// Spinning would make thousands, a backoff without a cap fewer and fewer.
	if n < 4 || n > 12 {
		t.Fatalf("%d lists in the second after the backoff reached %v, want 5 to 10", n, largest)
	}
	if _, errs := cc.state(); errs == 0 {
		t.Fatal("gRPC was never told that resolution fails: RPCs would wait for their deadline")
	}
	t.Logf("%d lists in a second at the cap; %+v", n, discovery.StatsOf(b))
}

func TestResolver_CoalescesResolveNow(t *testing.T) {
	etcd := etcdtest.Start(t)
	cli := etcd.Client(t)
	putInstance(t, cli, "127.0.0.1:7101")
	b := newBuilder(t, cli)
	const every = 200 * time.Millisecond
	discovery.SetResolveNowEvery(b, every)
	cc := &fakeCC{}
	r := build(t, b, cc)
	etcdtest.Eventually(t, 5*time.Second, "first set pushed", func() bool {
		addrs, _ := cc.state()
		return slices.Equal(addrs, []string{"127.0.0.1:7101"})
	})

	// gRPC calls ResolveNow on every failing connection: a burst of them
	// for a second.
	before := discovery.StatsOf(b)
	calls := 0
	for start := time.Now(); time.Since(start) < time.Second; calls++ {
		r.ResolveNow(resolver.ResolveNowOptions{})
		time.Sleep(time.Millisecond)
	}
	etcdtest.Eventually(t, time.Second, "the last coalesced list", func() bool {
		return discovery.StatsOf(b).ResolveNow > before.ResolveNow+1
	})
	time.Sleep(every + 50*time.Millisecond) // a possible trailing list lands
	after := discovery.StatsOf(b)
	lists := after.Lists - before.Lists
	if lists < 2 || lists > int64(time.Second/every)+2 {
		t.Fatalf("%d ResolveNow calls in a second made %d lists, want at most one per %v", calls, lists, every)
	}
	t.Logf("%d ResolveNow calls in a second made %d lists", calls, lists)

	// The watch started after the last list still follows changes.
	putInstance(t, cli, "127.0.0.1:7102")
	etcdtest.Eventually(t, 5*time.Second, "second instance pushed", func() bool {
		addrs, _ := cc.state()
		return slices.Equal(addrs, []string{"127.0.0.1:7101", "127.0.0.1:7102"})
	})
}

func TestResolver_StartsWhileEtcdIsDown(t *testing.T) {
	etcd := etcdtest.Start(t)
	a := startBackend(t, "a")
	register(t, newClient(t, etcd.Endpoint), a.addr)
	etcd.Stop()

	// The channel is made and a call tried while etcd is away: nothing
	// blocks beyond the call's own deadline.
	api := dial(t, newClient(t, etcd.Endpoint))
	start := time.Now()
	if seen := servedBy(t, api, 1); seen["error"] != 1 {
		t.Fatalf("with etcd down and nothing known: served %v, want an error", seen)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("a call with a 2s deadline took %v", took)
	}

	etcd.Restart(t)
	back := time.Now()
	etcdtest.Eventually(t, 10*time.Second, "calls reach a once etcd is back", func() bool {
		return servedBy(t, api, 1)["a"] == 1
	})
	t.Logf("routed %v after etcd returned", time.Since(back).Round(time.Millisecond))
}

func TestBuilder_Known(t *testing.T) {
	etcd := etcdtest.Start(t)
	cli := newClient(t, etcd.Endpoint)
	b := newBuilder(t, cli)
	if _, ok := b.Known(service); ok {
		t.Fatal("Known before any resolver ran: got ok, want nothing known")
	}
	putInstance(t, cli, "10.0.0.1:8080")
	putInstance(t, cli, "10.0.0.2:8080")
	cc := &fakeCC{}
	build(t, b, cc)
	etcdtest.Eventually(t, 5*time.Second, "both instances known", func() bool {
		n, ok := b.Known(service)
		return ok && n == 2
	})
	// While etcd is away the process keeps routing to them, and says so.
	etcd.Stop()
	time.Sleep(200 * time.Millisecond)
	if n, ok := b.Known(service); !ok || n != 2 {
		t.Errorf("with etcd down: Known = %d, %v; want the last set's 2", n, ok)
	}
}
