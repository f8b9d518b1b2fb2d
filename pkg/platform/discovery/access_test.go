package discovery_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shopmesh/shopmesh/pkg/platform/discovery"
	"github.com/shopmesh/shopmesh/pkg/platform/internal/etcdtest"
	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf"
	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf/devpki"
)

// TestEnableAccessControl runs the set-up against an etcd that requires
// client certificates, as shopmesh's does, and then acts as each identity:
// a registrant writes only its own prefix, registers and deregisters
// through the real Registrar and reads everyone's; a reader only reads; an
// identity outside the policy can do nothing.
func TestEnableAccessControl(t *testing.T) {
	dir := t.TempDir()
	if _, err := devpki.Generate(dir, devpki.Named("etcd", "order", "payment", "gateway", "paysim", "admin"), devpki.Options{}); err != nil {
		t.Fatal(err)
	}
	etcd := etcdtest.StartTLS(t, dir)
	as := func(identity string) *clientv3.Client {
		id, err := tlsconf.Load(dir, identity)
		if err != nil {
			t.Fatal(err)
		}
		cli, err := discovery.NewClient([]string{etcd.Endpoint}, id.HostClientConfig("etcd"), quiet)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cli.Close() })
		return cli
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	admin, order, payment, gateway, paysim := as("admin"), as("order"), as("payment"), as("gateway"), as("paysim")

	// Before: anyone with a certificate from the CA may do anything.
	if _, err := paysim.Put(ctx, discovery.Key("payment", "10.0.0.66:8080"), `{"addr":"10.0.0.66:8080"}`); err != nil {
		t.Fatalf("without access control, a put as paysim: %v", err)
	}
	access := discovery.Access{Registrants: []string{"order", "payment"}, Readers: []string{"gateway"}, Admins: []string{"admin"}}
	for run := range 2 { // the second run finds everything in place, authentication on
		if err := discovery.EnableAccessControl(ctx, admin, access); err != nil {
			t.Fatalf("EnableAccessControl, run %d: %v", run+1, err)
		}
	}
	// The set-up does not clean up what was written before it.
	if _, err := admin.Delete(ctx, discovery.ServicePrefix("payment"), clientv3.WithPrefix()); err != nil {
		t.Fatalf("delete as admin: %v", err)
	}

	denied := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Errorf("%s: %v, want permission denied", what, err)
		}
	}
	allowed := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v, want it allowed", what, err)
		}
	}

	r, err := discovery.NewRegistrar(order, "order", discovery.Instance{Addr: "127.0.0.1:7201"}, discovery.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	etcdtest.Eventually(t, 10*time.Second, "order registered under access control", r.Registered)
	_, err = payment.Put(ctx, discovery.Key("payment", "127.0.0.1:7202"), `{"addr":"127.0.0.1:7202"}`)
	allowed("payment writes its own prefix", err)

	_, err = payment.Put(ctx, r.Key(), `{"addr":"10.0.0.66:8080"}`)
	denied("payment overwrites order's registration", err)
	_, err = payment.Delete(ctx, discovery.ServicePrefix("order"), clientv3.WithPrefix())
	denied("payment deletes order's registrations", err)
	_, err = payment.Put(ctx, "/elsewhere", "x")
	denied("payment writes outside the registry", err)
	_, err = gateway.Put(ctx, discovery.Key("gateway", "127.0.0.1:7203"), `{"addr":"127.0.0.1:7203"}`)
	denied("gateway (a reader) registers", err)
	_, err = paysim.Get(ctx, discovery.Prefix, clientv3.WithPrefix())
	if err == nil {
		t.Error("paysim, outside the policy, read the registry")
	}

	for name, cli := range map[string]*clientv3.Client{"gateway": gateway, "payment": payment} {
		n, err := discovery.CountInstances(ctx, cli, "order")
		if err != nil || n != 1 {
			t.Errorf("%s counts order's instances: %d, %v; want 1", name, n, err)
		}
	}
	stopCtx, stop := context.WithTimeout(ctx, 5*time.Second)
	defer stop()
	allowed("order deregisters (revokes its lease)", r.Stop(stopCtx))
	if n, err := discovery.CountInstances(ctx, gateway, "order"); err != nil || n != 0 {
		t.Errorf("after order deregistered: %d instances, %v; want 0", n, err)
	}

	if err := discovery.EnableAccessControl(ctx, payment, access); err == nil {
		t.Error("a service re-ran the set-up once authentication was on")
	}
	if err := discovery.EnableAccessControl(ctx, admin, discovery.Access{Registrants: []string{"order"}}); err == nil {
		t.Error("a policy without an admin was accepted")
	}
}
