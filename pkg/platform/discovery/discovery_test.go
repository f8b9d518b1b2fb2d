package discovery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/discovery"
	"github.com/shopmesh/shopmesh/pkg/platform/internal/etcdtest"
)

const service = "inventory"

var quiet = slog.New(slog.DiscardHandler)

// backend is a gRPC server that answers GetProduct with its own name, so a
// test can see which instance served each call.
type backend struct {
	inventoryv1.UnimplementedInventoryServiceServer
	name string
	srv  *grpc.Server
	addr string
}

func (b *backend) GetProduct(context.Context, *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
	return &inventoryv1.GetProductResponse{Product: &inventoryv1.Product{Id: b.name}}, nil
}

func startBackend(t *testing.T, name string) *backend {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, srv: grpc.NewServer(), addr: lis.Addr().String()}
	inventoryv1.RegisterInventoryServiceServer(b.srv, b)
	go func() { _ = b.srv.Serve(lis) }()
	t.Cleanup(b.srv.Stop)
	return b
}

func register(t *testing.T, cli *clientv3.Client, addr string, opts ...discovery.RegistrarOption) *discovery.Registrar {
	t.Helper()
	opts = append([]discovery.RegistrarOption{discovery.WithLogger(quiet)}, opts...)
	r, err := discovery.NewRegistrar(cli, service, discovery.Instance{Addr: addr, Version: "test"}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Bounded: some tests stop etcd first, and then Stop cannot revoke.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = r.Stop(ctx)
	})
	// Start returns before etcd has the key; tests begin once it does.
	etcdtest.Eventually(t, 5*time.Second, "registered "+addr, r.Registered)
	return r
}

func dial(t *testing.T, cli *clientv3.Client) inventoryv1.InventoryServiceClient {
	t.Helper()
	return dialWith(t, newBuilder(t, cli))
}

func newBuilder(t *testing.T, cli *clientv3.Client) *discovery.Builder {
	t.Helper()
	b, err := discovery.NewBuilder(cli, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dialWith makes a round-robin ClientConn for the service through b.
func dialWith(t *testing.T, b *discovery.Builder) inventoryv1.InventoryServiceClient {
	t.Helper()
	cc, err := grpc.NewClient(discovery.Target(service),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithResolvers(b),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return inventoryv1.NewInventoryServiceClient(cc)
}

// servedBy makes n calls and counts which backend answered each; failed
// calls count under "error".
func servedBy(t *testing.T, api inventoryv1.InventoryServiceClient, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for range n {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		resp, err := api.GetProduct(ctx, &inventoryv1.GetProductRequest{Id: "x"})
		cancel()
		if err != nil {
			seen["error"]++
			continue
		}
		seen[resp.GetProduct().GetId()]++
	}
	return seen
}

func TestRegistrar_RegistersAndRevokes(t *testing.T) {
	etcd := etcdtest.Start(t)
	cli := etcd.Client(t)
	r := register(t, cli, "127.0.0.1:7001")

	etcdtest.Eventually(t, 5*time.Second, "key registered", r.Registered)
	resp, err := cli.Get(t.Context(), discovery.Key(service, "127.0.0.1:7001"))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("get key: %v, %d kvs, want 1", err, len(resp.Kvs))
	}
	var got discovery.Instance
	if err := json.Unmarshal(resp.Kvs[0].Value, &got); err != nil {
		t.Fatalf("value is not an Instance: %v", err)
	}
	if got.Addr != "127.0.0.1:7001" || got.Version != "test" || got.StartedAt.IsZero() {
		t.Errorf("registered %+v, want addr 127.0.0.1:7001, version test, a start time", got)
	}
	if resp.Kvs[0].Lease == 0 {
		t.Error("key has no lease: a crashed instance would stay registered forever")
	}

	if err := r.Stop(t.Context()); err != nil {
		t.Fatalf("stop: %v", err)
	}
	resp, err = cli.Get(t.Context(), discovery.ServicePrefix(service), clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("after Stop: %v, %d keys left, want 0", err, len(resp.Kvs))
	}
}

func TestRegistrar_RegistersAgainAfterLeaseLoss(t *testing.T) {
	etcd := etcdtest.Start(t)
	cli := etcd.Client(t)
	r := register(t, cli, "127.0.0.1:7002", discovery.WithRetryBackoff(50*time.Millisecond, 200*time.Millisecond))
	etcdtest.Eventually(t, 5*time.Second, "registered", r.Registered)

	// An operator (or an etcd outage longer than the TTL) ends the lease.
	resp, err := cli.Get(t.Context(), r.Key())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("get: %v", err)
	}
	old := resp.Kvs[0].Lease
	if _, err := cli.Revoke(t.Context(), clientv3.LeaseID(old)); err != nil {
		t.Fatal(err)
	}
	etcdtest.Eventually(t, 5*time.Second, "key put again under a new lease", func() bool {
		resp, err := cli.Get(t.Context(), r.Key())
		return err == nil && len(resp.Kvs) == 1 && resp.Kvs[0].Lease != 0 && resp.Kvs[0].Lease != old
	})
}

func TestNewRegistrar_RejectsBadInput(t *testing.T) {
	etcd := etcdtest.Start(t)
	cli := etcd.Client(t)
	cases := []struct {
		name    string
		service string
		inst    discovery.Instance
		opts    []discovery.RegistrarOption
	}{
		{"empty service", "", discovery.Instance{Addr: "127.0.0.1:1"}, nil},
		{"service with slash", "a/b", discovery.Instance{Addr: "127.0.0.1:1"}, nil},
		{"no port", service, discovery.Instance{Addr: "127.0.0.1"}, nil},
		{"port zero", service, discovery.Instance{Addr: "127.0.0.1:0"}, nil},
		{"ttl below a second", service, discovery.Instance{Addr: "127.0.0.1:1"}, []discovery.RegistrarOption{discovery.WithTTL(time.Millisecond)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := discovery.NewRegistrar(cli, tc.service, tc.inst, tc.opts...); err == nil {
				t.Fatal("got nil error, want one")
			}
		})
	}
}

func TestResolver_FollowsRegistrations(t *testing.T) {
	etcd := etcdtest.Start(t)
	cli := etcd.Client(t)
	a, b := startBackend(t, "a"), startBackend(t, "b")
	ra := register(t, cli, a.addr)
	api := dial(t, cli)

	if seen := servedBy(t, api, 10); seen["a"] != 10 {
		t.Fatalf("with only a registered: served %v, want a×10", seen)
	}

	register(t, cli, b.addr)
	etcdtest.Eventually(t, 5*time.Second, "b receives traffic", func() bool { return servedBy(t, api, 4)["b"] > 0 })
	if seen := servedBy(t, api, 20); seen["a"] == 0 || seen["b"] == 0 || seen["error"] != 0 {
		t.Fatalf("with a and b registered: served %v, want both and no errors", seen)
	}

	// a leaves the registry while its server still runs: routing must
	// follow etcd, not wait for a's connection to break.
	if err := ra.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	etcdtest.Eventually(t, 5*time.Second, "a out of rotation", func() bool { return servedBy(t, api, 4)["a"] == 0 })
	if seen := servedBy(t, api, 20); seen["b"] != 20 {
		t.Fatalf("after a deregistered: served %v, want b×20", seen)
	}
}

func TestResolver_EmptyServiceFailsFast(t *testing.T) {
	etcd := etcdtest.Start(t)
	cli := etcd.Client(t)
	api := dial(t, cli)

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	_, err := api.GetProduct(ctx, &inventoryv1.GetProductRequest{Id: "x"})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("got %v, want UNAVAILABLE", err)
	}
	if waited := time.Since(start); waited > 3*time.Second {
		t.Fatalf("failed after %v: it waited for the deadline instead of failing fast", waited)
	}
}

func TestResolver_SkipsMalformedEntries(t *testing.T) {
	etcd := etcdtest.Start(t)
	cli := etcd.Client(t)
	a := startBackend(t, "a")
	register(t, cli, a.addr)
	for key, value := range map[string]string{
		discovery.Key(service, "127.0.0.1:1"): "not json",
		discovery.Key(service, "127.0.0.1:2"): `{"addr":""}`,
		// A value whose addr differs from its key: foreign or stale.
		discovery.Key(service, "127.0.0.1:3"): `{"addr":"127.0.0.1:4"}`,
	} {
		if _, err := cli.Put(t.Context(), key, value); err != nil {
			t.Fatal(err)
		}
	}
	api := dial(t, cli)
	if seen := servedBy(t, api, 20); seen["a"] != 20 {
		t.Fatalf("served %v, want a×20 and nothing routed to malformed entries", seen)
	}
}

func TestResolver_KeepsLastSetWhileEtcdIsDown(t *testing.T) {
	etcd := etcdtest.Start(t)
	cli := etcd.Client(t)
	a := startBackend(t, "a")
	register(t, cli, a.addr)
	api := dial(t, cli)
	if seen := servedBy(t, api, 5); seen["a"] != 5 {
		t.Fatalf("before outage: served %v", seen)
	}

	etcd.Stop()
	var wg sync.WaitGroup
	wg.Go(func() {
		// Calls during the outage still reach the instance the resolver knew.
		if seen := servedBy(t, api, 20); seen["a"] != 20 {
			t.Errorf("during outage: served %v, want a×20", seen)
		}
	})
	wg.Wait()
}

func TestParseEndpoints(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"https://etcd:2379", 1, true},
		{"https://etcd-0:2379, https://etcd-1:2379,https://etcd-2:2379", 3, true},
		{"", 0, false},
		{"etcd:2379", 0, false},
		{"https://etcd", 0, false},
		{"ftp://etcd:2379", 0, false},
	} {
		t.Run(fmt.Sprintf("%q", tc.in), func(t *testing.T) {
			got, err := discovery.ParseEndpoints(tc.in)
			if (err == nil) != tc.ok || len(got) != tc.want {
				t.Fatalf("got %v, %v; want %d endpoints, ok=%v", got, err, tc.want, tc.ok)
			}
		})
	}
}
