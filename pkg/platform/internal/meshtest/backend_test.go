package meshtest_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/internal/etcdtest"
	"github.com/shopmesh/shopmesh/pkg/platform/internal/meshtest"
)

// direct returns a client of the one backend at addr, past discovery, as
// caller order.
func direct(t *testing.T, m *meshtest.Mesh, addr string) inventoryv1.InventoryServiceClient {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(credentials.NewTLS(m.Identity(t, "order").ClientConfig(meshtest.Service))))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return inventoryv1.NewInventoryServiceClient(cc)
}

func registered(t *testing.T, m *meshtest.Mesh, b *meshtest.Backend) bool {
	t.Helper()
	resp, err := m.KV.Get(t.Context(), b.Key())
	if err != nil {
		t.Fatalf("get %s: %v", b.Key(), err)
	}
	return resp.Count == 1
}

// Stop is lifecycle's ordered stop: the key is gone while the server still
// answers, and only after the propagation delay does it stop.
func TestBackend_StopDeregistersBeforeDraining(t *testing.T) {
	const delay = 500 * time.Millisecond
	m := meshtest.New(t)
	b := m.StartBackend(t, "a", meshtest.WithPropagationDelay(delay))
	api := direct(t, m, b.Addr())
	if r := getProduct(t.Context(), api, time.Second); r.err != nil || r.by != "a" {
		t.Fatalf("before Stop: got %q, %v; want an answer from a", r.by, r.err)
	}

	stopped := make(chan error, 1)
	start := time.Now()
	go func() { stopped <- b.Stop(context.Background()) }()
	etcdtest.Eventually(t, delay/2, "key revoked early in Stop", func() bool { return !registered(t, m, b) })
	if r := getProduct(t.Context(), api, time.Second); r.err != nil || r.by != "a" {
		t.Errorf("deregistered, within the propagation delay: got %q, %v; want a still answering", r.by, r.err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if took := time.Since(start); took < delay {
		t.Errorf("Stop returned after %v, want at least the %v propagation delay", took, delay)
	}
	if r := getProduct(t.Context(), api, time.Second); status.Code(r.err) != codes.Unavailable {
		t.Errorf("after Stop: got %q, %v; want UNAVAILABLE", r.by, r.err)
	}
}

// Kill is SIGKILL: the server is gone at once, and the key stays for the
// lease to expire.
func TestBackend_KillLeavesItsKey(t *testing.T) {
	m := meshtest.New(t)
	b := m.StartBackend(t, "a", meshtest.WithTTL(30*time.Second))
	api := direct(t, m, b.Addr())
	if r := getProduct(t.Context(), api, time.Second); r.err != nil {
		t.Fatalf("before Kill: %v", r.err)
	}
	b.Kill()
	if r := getProduct(t.Context(), api, time.Second); status.Code(r.err) != codes.Unavailable {
		t.Errorf("after Kill: got %q, %v; want UNAVAILABLE", r.by, r.err)
	}
	time.Sleep(500 * time.Millisecond) // what a revoke would need, many times over
	if !registered(t, m, b) {
		t.Error("key gone within 500ms of Kill with a 30s lease: it was revoked")
	}
}
