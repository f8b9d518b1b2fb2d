package e2e_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shopmesh/shopmesh/e2e/stack"
	moneyv1 "github.com/shopmesh/shopmesh/pkg/api/money/v1"
	paymentv1 "github.com/shopmesh/shopmesh/pkg/api/payment/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/discovery"
	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf"
)

// testFaults breaks the system on purpose while orders flow, then checks
// the whole history (scenario.run): every acknowledged order exists in the
// state its answer promised or a later final one, no key made two orders,
// every CONFIRMED order was charged exactly once and every other has no net
// charge, the stock moved by exactly the confirmed units, and nothing is
// left under way.
func testFaults(t *testing.T, s *stack.Stack) {
	t.Run("sigkill a replica of each service in turn", func(t *testing.T) { testKill(t, s) })
	t.Run("rolling restart of every instance", func(t *testing.T) { testRollingRestart(t, s) })
	t.Run("etcd loses a member, then stops answering past the lease TTL", func(t *testing.T) { testEtcdOutage(t, s) })
	t.Run("payment provider faults", func(t *testing.T) { testProviderFaults(t, s) })
	t.Run("postgres restarts", func(t *testing.T) { testPostgresRestart(t, s) })
	t.Run("order crashes after the charge, before it is recorded", func(t *testing.T) { testCrashAfterCharge(t, s) })
	t.Run("the mesh's edge: identities, plaintext, no certificate", func(t *testing.T) { testMeshEdge(t, s) })
	t.Run("every certificate is re-issued under traffic", func(t *testing.T) { testCertRotation(t, s) })
	t.Run("the registry's access control", func(t *testing.T) { testRegistryAccess(t, s) })
}

// instances are every service replica and gateway, in the order a rolling
// restart takes them.
func instances(s *stack.Stack) []string {
	var names []string
	for _, svc := range append(slices.Clone(stack.Services), "gateway") {
		names = append(names, s.Replicas(svc)...)
	}
	return names
}

// testKill: SIGKILL one replica of each service in turn while orders flow,
// bringing each back before the next. The other replica (or gateway) takes
// over; the client retries with the same key. No order is lost or doubled,
// and a placement that failed in the end created no order.
func testKill(t *testing.T, s *stack.Stack) {
	r := scenario{name: "sigkill", rate: 10, duration: 45 * time.Second, retries: 5,
		during: func(context.Context) {
			time.Sleep(3 * time.Second)
			for _, svc := range append(slices.Clone(stack.Services), "gateway") {
				victim := s.Replicas(svc)[0]
				t.Logf("SIGKILL %s", victim)
				s.Stop(t, victim, 0)
				time.Sleep(3 * time.Second)
				s.Start(t, victim)
				time.Sleep(2 * time.Second)
			}
		}}.run(t, s)
	for _, o := range r.finalFailures() {
		if len(o.Orders) != 0 {
			t.Errorf("%s failed in the end (%d) but created %v", o.Key, o.Status, o.Orders)
		}
	}
}

// testRollingRestart: every instance (both gateways included) is stopped
// gracefully and started again, one at a time, while orders flow. With
// client retries, every placement succeeds.
func testRollingRestart(t *testing.T, s *stack.Stack) {
	r := scenario{name: "rolling restart", rate: 6, duration: 90 * time.Second, retries: 8,
		during: func(context.Context) {
			time.Sleep(2 * time.Second)
			for _, name := range instances(s) {
				t.Logf("restart %s", name)
				s.Restart(t, name)
			}
		}}.run(t, s)
	if f := r.finalFailures(); len(f) != 0 {
		t.Errorf("%d of %d placements failed after retries, want 0; first: %+v", len(f), r.report.Sent, f[0].Placement)
	}
}

// testEtcdOutage: one etcd member stops, then the other two stop answering
// (paused) for longer than the registrations' lease TTL (10s). Orders go
// on over the routes every process cached; every gateway and service
// stays ready while it can route; once etcd answers again, every instance
// is registered again within 5 seconds.
func testEtcdOutage(t *testing.T, s *stack.Stack) {
	members := s.EtcdMembers()
	if len(members) < 3 {
		// The suite starts three members (TestShopmesh); fewer is a
		// mistake in the suite, not a reason to pass without testing.
		t.Fatalf("the stack has %d etcd members; this scenario needs 3", len(members))
	}
	etcd := etcdClient(t, s)
	waitRegistered(t, etcd, 30*time.Second, 0)
	hc, err := httpclient.New(httpclient.Options{Name: "readyz", Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		notReady []string
		back     time.Duration
		frozen   bool
	)
	paused := members[:2]
	t.Cleanup(func() { // a failed run must not leave etcd frozen for the next scenario
		mu.Lock()
		defer mu.Unlock()
		if frozen {
			for _, m := range paused {
				s.Unpause(t, m)
			}
		}
	})
	r := scenario{name: "etcd outage", rate: 5, duration: 40 * time.Second, retries: 5,
		during: func(ctx context.Context) {
			time.Sleep(3 * time.Second)
			s.Stop(t, members[2], 10*time.Second)
			time.Sleep(3 * time.Second)
			mu.Lock()
			frozen = true
			mu.Unlock()
			for _, m := range paused {
				s.Pause(t, m)
			}
			outage := time.Now()
			for time.Since(outage) < 15*time.Second {
				for _, name := range instances(s) {
					if code := readyz(t, hc, s.AdminURL(t, name)); code != http.StatusOK {
						mu.Lock()
						notReady = append(notReady, fmt.Sprintf("%s: %d after %v", name, code, time.Since(outage).Round(time.Second)))
						mu.Unlock()
					}
				}
				time.Sleep(time.Second)
			}
			for _, m := range paused {
				s.Unpause(t, m)
			}
			returned := time.Now()
			mu.Lock()
			frozen = false
			mu.Unlock()
			// Registered again: every instance listed, and still listed
			// two seconds on, so a lease that expired during the outage
			// and is only now revoked does not count as registered.
			stable := waitRegistered(t, etcd, 30*time.Second, 2*time.Second)
			mu.Lock()
			back = stable.Sub(returned)
			mu.Unlock()
			s.Start(t, members[2])
		}}.run(t, s)
	mu.Lock()
	defer mu.Unlock()
	if len(notReady) > 0 {
		t.Errorf("instances not ready while they could route: %v", notReady)
	}
	t.Logf("every instance registered again %v after etcd answered again", back.Round(100*time.Millisecond))
	if back > 5*time.Second {
		t.Errorf("instances registered again %v after etcd's return, want within 5s", back.Round(100*time.Millisecond))
	}
	if f := r.finalFailures(); len(f) != 0 {
		t.Errorf("%d of %d placements failed after retries while etcd was away, want 0; first: %+v", len(f), r.report.Sent, f[0].Placement)
	}
}

// testProviderFaults: the provider answers later than the client waits,
// fails calls, drops answers after charging, and declines cards, in turn
// while orders flow. Every order ends in the state its card and the
// provider's final answer call for, and the provider's charges equal the
// confirmed orders exactly (scenario.run's checks).
func testProviderFaults(t *testing.T, s *stack.Stack) {
	sim := newPaysim(t, s)
	r := scenario{name: "provider faults", rate: 6, duration: 40 * time.Second, retries: 3,
		tokens: []string{"tok_visa", "tok_visa", "tok_visa", "tok_decline"},
		during: func(context.Context) {
			for _, f := range []string{
				`{"latency":"4s"}`, // beyond the provider client's 3s
				`{"error_rate":0.5}`,
				`{"drop_rate":0.5}`,
				`{"error_rate":0.3,"drop_rate":0.3}`,
			} {
				sim.setFaults(t, f)
				time.Sleep(8 * time.Second)
			}
			sim.setFaults(t, `{}`)
		}}.run(t, s)
	declined := 0
	for _, o := range r.outcomes {
		for _, ord := range o.Orders {
			if ord.Status == "PAYMENT_DECLINED" {
				declined++
			}
		}
	}
	if declined == 0 {
		t.Errorf("no order was declined: the load's declined cards did not reach the provider")
	}
}

// testPostgresRestart: the database restarts while orders flow. No service
// process restarts, no order is lost, and nothing is answered 500: a lost
// connection is a 503, which the client retries.
func testPostgresRestart(t *testing.T, s *stack.Stack) {
	started := map[string]string{}
	for _, name := range instances(s) {
		started[name] = s.StartedAt(t, name)
	}
	r := scenario{name: "postgres restart", rate: 8, duration: 30 * time.Second, retries: 5,
		during: func(context.Context) {
			time.Sleep(5 * time.Second)
			s.Restart(t, "postgres")
		}}.run(t, s)
	for _, o := range r.outcomes {
		for _, a := range o.Attempts {
			if a.Status == http.StatusInternalServerError {
				t.Errorf("%s was answered 500 at %v", o.Key, a.Start.Format(time.TimeOnly))
			}
		}
	}
	for name, at := range started {
		if now := s.StartedAt(t, name); now != at {
			t.Errorf("%s restarted (started %s, now %s): a database restart must not take a service down", name, at, now)
		}
	}
}

// testCrashAfterCharge: the provider takes the money at once and answers 5
// seconds later; in between, both order replicas are killed, so the one
// driving the saga dies with the charge made and nothing recorded. When
// they come back, recovery confirms the order with that one charge.
func testCrashAfterCharge(t *testing.T, s *stack.Stack) {
	ctx := t.Context()
	c := newClient(t, s.GatewayURL)
	sim := newPaysim(t, s)
	c.createProduct(t, "crash-1", 10)
	sim.setFaults(t, `{"answer_latency":"5s"}`)
	charges := sim.stats(t).Charges
	placed := make(chan int, 1)
	go func() {
		st, _ := c.place(ctx, "crash-after-charge", "crash-after-charge-1", "crash-1", 1, "tok_visa")
		placed <- st
	}()
	deadline := time.Now().Add(30 * time.Second)
	for sim.stats(t).Charges == charges {
		if time.Now().After(deadline) {
			t.Fatal("the provider never charged")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Charged; the answer is on its way for five seconds yet.
	for _, o := range s.Replicas("order") {
		s.Stop(t, o, 0)
	}
	<-placed
	sim.setFaults(t, `{}`)
	for _, o := range s.Replicas("order") {
		s.Start(t, o)
	}
	// The client repeats its request with the same key: the same order.
	status, body := c.place(ctx, "crash-after-charge", "crash-after-charge-1", "crash-1", 1, "tok_visa")
	if status != http.StatusOK && status != http.StatusAccepted {
		t.Fatalf("repeat after the crash: %d (%s), want the order (200 or 202)", status, body)
	}
	o := c.waitOrderID(t, "crash-after-charge", idOf(body), "CONFIRMED", 90*time.Second)
	n := 0
	for _, ch := range sim.charges(t) {
		if ch.Key == "charge-"+o.ID && ch.Status == "succeeded" && !ch.Refunded {
			n++
		}
	}
	if got := sim.stats(t).Charges - charges; got != 1 || n != 1 {
		t.Errorf("order %s: %d charges at the provider (%d under its key), want exactly 1", o.ID, got, n)
	}
	if got := c.product(ctx, "crash-1").Available; got != 9 {
		t.Errorf("stock of crash-1 is %d, want 9", got)
	}
}

// testMeshEdge: payment.Charge admits only order's certificate; another
// shopmesh identity is refused by authorization, and a client in
// plaintext or without a certificate is refused by the handshake.
func testMeshEdge(t *testing.T, s *stack.Stack) {
	addr := s.ServiceAddr(t, s.Replicas("payment")[0])
	charge := &paymentv1.ChargeRequest{OrderId: "", Amount: &moneyv1.Money{CurrencyCode: "EUR", MinorUnits: 100}}
	call := func(t *testing.T, creds credentials.TransportCredentials) error {
		t.Helper()
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		_, err = paymentv1.NewPaymentServiceClient(conn).Charge(ctx, charge)
		return err
	}
	identity := func(t *testing.T, name string) credentials.TransportCredentials {
		t.Helper()
		id, err := tlsconf.Load(s.CertsDir, name)
		if err != nil {
			t.Fatal(err)
		}
		return credentials.NewTLS(id.ClientConfig("payment"))
	}
	for _, name := range []string{"gateway", "inventory", "paysim", "admin"} {
		if err := call(t, identity(t, name)); status.Code(err) != codes.PermissionDenied {
			t.Errorf("Charge as %s: %v, want PERMISSION_DENIED", name, err)
		}
	}
	// order may call it: authorization lets the (invalid) request through
	// to the handler, which refuses it without charging anything.
	if err := call(t, identity(t, "order")); status.Code(err) != codes.InvalidArgument {
		t.Errorf("Charge as order, without an order id: %v, want INVALID_ARGUMENT from the handler", err)
	}
	if err := call(t, insecure.NewCredentials()); err == nil || status.Code(err) == codes.PermissionDenied {
		t.Errorf("Charge in plaintext: %v, want the connection refused", err)
	}
	noCert, err := tlsconf.Load(s.CertsDir, "order")
	if err != nil {
		t.Fatal(err)
	}
	cfg := noCert.ClientConfig("payment")
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &tls.Certificate{}, nil }
	if err := call(t, credentials.NewTLS(cfg)); err == nil || status.Code(err) != codes.Unavailable {
		t.Errorf("Charge without a client certificate: %v, want the handshake refused (UNAVAILABLE)", err)
	}
}

// testCertRotation: every certificate of the stack is re-issued (make
// certs ROTATE=1) while orders flow, without a restart. Every placement
// succeeds at its first attempt; every gateway and service replica logs
// that it reloaded its identity; afterwards each gRPC replica and each
// etcd member presents its new certificate to a new connection, and
// accepts a client certificate from the rotation.
func testCertRotation(t *testing.T, s *stack.Stack) {
	services := append(slices.Clone(stack.Services), "gateway")
	const reloaded = "TLS identity reloaded"
	before := map[string]int{}
	for _, svc := range services {
		before[svc] = s.LogLinesWith(t, svc, reloaded)
	}
	r := scenario{name: "certificate rotation", rate: 10, duration: 20 * time.Second,
		during: func(context.Context) {
			time.Sleep(5 * time.Second)
			t.Log("re-issue every certificate")
			s.RotateCertificates(t)
		}}.run(t, s)
	if f := r.finalFailures(); len(f) != 0 {
		t.Errorf("%d of %d placements failed with no retry allowed, want 0; first: %+v", len(f), r.report.Sent, f[0].Placement)
	}
	for _, svc := range services {
		if got, want := s.LogLinesWith(t, svc, reloaded)-before[svc], len(s.Replicas(svc)); got < want {
			t.Errorf("%s: %d replicas logged %q, want all %d", svc, got, reloaded, want)
		}
	}

	admin, err := tlsconf.Load(s.CertsDir, "admin") // issued by the rotation too
	if err != nil {
		t.Fatal(err)
	}
	presented := func(addr string, cfg *tls.Config) (*x509.Certificate, error) {
		d := tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		return conn.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
	}
	for _, svc := range stack.Services {
		want := leafOf(t, s, svc)
		for _, name := range s.Replicas(svc) {
			got, err := presented(s.ServiceAddr(t, name), admin.ClientConfig(svc))
			if err != nil {
				t.Errorf("%s: TLS to its gRPC port as admin: %v", name, err)
			} else if !got.Equal(want) {
				t.Errorf("%s presents certificate %x, want the re-issued %x", name, got.SerialNumber, want.SerialNumber)
			}
		}
	}
	want := leafOf(t, s, "etcd")
	for _, ep := range s.EtcdEndpoints {
		got, err := presented(strings.TrimPrefix(ep, "https://"), admin.HostClientConfig("etcd"))
		if err != nil {
			t.Errorf("etcd at %s: %v", ep, err)
		} else if !got.Equal(want) {
			t.Errorf("etcd at %s presents certificate %x, want the re-issued %x", ep, got.SerialNumber, want.SerialNumber)
		}
	}
}

// leafOf reads identity's current certificate from the stack's PKI.
func leafOf(t *testing.T, s *stack.Stack, identity string) *x509.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(s.CertsDir, identity+".pem"), filepath.Join(s.CertsDir, identity+"-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return pair.Leaf
}

// testRegistryAccess: with etcd's access control on (etcdaccess, as in
// make up), a service's certificate may write only its own registrations:
// payment can neither overwrite nor delete order's, the gateway can only
// read, and paysim, outside the mesh's registry, can do nothing. The
// services' own registrations are all in place, made under these rules.
func testRegistryAccess(t *testing.T, s *stack.Stack) {
	ctx := t.Context()
	payment, gateway, paysim := etcdClientAs(t, s, "payment"), etcdClientAs(t, s, "gateway"), etcdClientAs(t, s, "paysim")
	waitRegistered(t, etcdClient(t, s), 30*time.Second, 0)
	orders, err := gateway.Get(ctx, discovery.ServicePrefix("order"), clientv3.WithPrefix())
	if err != nil || len(orders.Kvs) == 0 {
		t.Fatalf("gateway lists order's instances: %v (%d found)", err, len(orders.Kvs))
	}
	victim := string(orders.Kvs[0].Key)

	denied := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Errorf("%s: %v, want permission denied", what, err)
		}
	}
	_, err = payment.Put(ctx, victim, `{"addr":"10.0.0.66:8080"}`)
	denied("payment overwrites "+victim, err)
	_, err = payment.Delete(ctx, discovery.ServicePrefix("order"), clientv3.WithPrefix())
	denied("payment deletes order's registrations", err)
	_, err = gateway.Put(ctx, discovery.Key("order", "10.0.0.66:8080"), `{"addr":"10.0.0.66:8080"}`)
	denied("gateway registers an order instance", err)
	if _, err := paysim.Get(ctx, discovery.Prefix, clientv3.WithPrefix()); err == nil {
		t.Error("paysim read the registry")
	}
	own := discovery.Key("payment", "10.0.0.67:8080")
	if _, err := payment.Put(ctx, own, `{"addr":"10.0.0.67:8080"}`); err != nil {
		t.Errorf("payment writes under its own prefix: %v", err)
	}
	if _, err := payment.Delete(ctx, own); err != nil {
		t.Errorf("payment deletes under its own prefix: %v", err)
	}
	after, err := gateway.Get(ctx, victim)
	if err != nil || len(after.Kvs) != 1 || !bytes.Equal(after.Kvs[0].Value, orders.Kvs[0].Value) {
		t.Errorf("order's registration %s changed: %v", victim, err)
	}
}

// etcdClient is an etcd client for the test, as the admin identity (etcd's
// root).
func etcdClient(t *testing.T, s *stack.Stack) *clientv3.Client {
	t.Helper()
	return etcdClientAs(t, s, "admin")
}

// etcdClientAs is an etcd client presenting identity's certificate, which
// etcd's access control takes the user from.
func etcdClientAs(t *testing.T, s *stack.Stack, identity string) *clientv3.Client {
	t.Helper()
	id, err := tlsconf.Load(s.CertsDir, identity)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := discovery.NewClient(s.EtcdEndpoints, id.HostClientConfig("etcd"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// waitRegistered waits until every replica of every gRPC service has been
// registered in etcd without a gap for stable, and returns when that
// stretch began.
func waitRegistered(t *testing.T, etcd *clientv3.Client, timeout, stable time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var since time.Time // start of the current stretch with every instance listed
	for {
		var missing []string
		for _, svc := range stack.Services {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), time.Second)
			n, err := discovery.CountInstances(ctx, etcd, svc)
			cancel()
			if err != nil || n < 2 {
				missing = append(missing, fmt.Sprintf("%s: %d (%v)", svc, n, err))
			}
		}
		switch {
		case len(missing) > 0:
			since = time.Time{}
		case since.IsZero():
			since = time.Now()
		}
		if !since.IsZero() && time.Since(since) >= stable {
			return since
		}
		if time.Now().After(deadline) {
			t.Errorf("after %v not every instance is registered: %s", timeout, strings.Join(missing, "; "))
			return time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readyz returns the status of GET base/readyz, 0 when none came.
func readyz(t *testing.T, hc *http.Client, base string) int {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
	if err != nil {
		return 0
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0
	}
	defer httpclient.DrainAndClose(resp.Body)
	return resp.StatusCode
}
