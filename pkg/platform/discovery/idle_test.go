package discovery_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"

	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/discovery"
	"github.com/shopmesh/shopmesh/pkg/platform/internal/etcdtest"
)

// A channel that goes idle closes its resolver; the next call builds a new
// one, which must see the registrations made while the channel slept.
func TestResolver_IdleChannelRebuildsWithCurrentSet(t *testing.T) {
	etcd := etcdtest.Start(t)
	cli := etcd.Client(t)
	a, b := startBackend(t, "a"), startBackend(t, "b")
	ra := register(t, cli, a.addr)

	cc, err := grpc.NewClient(discovery.Target(service),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithResolvers(newBuilder(t, cli)),
		grpc.WithIdleTimeout(200*time.Millisecond),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	api := inventoryv1.NewInventoryServiceClient(cc)
	if seen := servedBy(t, api, 4); seen["a"] != 4 {
		t.Fatalf("before idling: served %v, want a×4", seen)
	}

	etcdtest.Eventually(t, 5*time.Second, "channel idle", func() bool { return cc.GetState() == connectivity.Idle })
	// While idle, nothing watches: a leaves and b arrives unseen.
	if err := ra.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	register(t, cli, b.addr)

	if seen := servedBy(t, api, 10); seen["b"] != 10 {
		t.Fatalf("after idling: served %v, want b×10 (the rebuilt resolver's current set)", seen)
	}
}
