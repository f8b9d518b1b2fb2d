package discovery_test

import (
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shopmesh/shopmesh/pkg/platform/internal/etcdtest"
)

func TestRegistrar_ReclaimsKeyPutUnderAnotherLease(t *testing.T) {
	etcd := etcdtest.Start(t)
	cli := etcd.Client(t)
	r := register(t, cli, "127.0.0.1:7003")
	resp, err := cli.Get(t.Context(), r.Key())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("get: %v", err)
	}
	old := resp.Kvs[0].Lease

	// Someone overwrites the key without a lease: it would survive the
	// instance, and revoking our lease at Stop would not remove it.
	if _, err := cli.Put(t.Context(), r.Key(), string(resp.Kvs[0].Value)); err != nil {
		t.Fatal(err)
	}
	etcdtest.Eventually(t, 5*time.Second, "key put again under a lease of the registrar", func() bool {
		resp, err := cli.Get(t.Context(), r.Key())
		return err == nil && len(resp.Kvs) == 1 && resp.Kvs[0].Lease != 0 && resp.Kvs[0].Lease != old
	})
	if err := r.Stop(t.Context()); err != nil {
		t.Fatalf("stop: %v", err)
	}
	resp, err = cli.Get(t.Context(), r.Key())
	if err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("after Stop: %v, %d keys, want none", err, len(resp.Kvs))
	}
	ttl, err := cli.TimeToLive(t.Context(), clientv3.LeaseID(old))
	if err != nil || ttl.TTL != -1 {
		t.Fatalf("old lease after Stop: %v, ttl %d; want it revoked", err, ttl.TTL)
	}
}
