package meshtest

import (
	"log/slog"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/discovery"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/internal/etcdtest"
	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf"
	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf/devpki"
)

// Service is the service backends serve and register as unless told
// otherwise.
const Service = "inventory"

// Mesh is one test's world: an embedded etcd and a dev PKI with every
// shopmesh identity.
type Mesh struct {
	// Etcd is the registry; a test may stop it to simulate an outage.
	Etcd *etcdtest.Server
	// KV is a client of Etcd for the test itself: to read keys, watch them,
	// or put entries no Registrar would.
	KV *clientv3.Client
	// Logger receives the logs of every backend, registrar, resolver and
	// client made after it is set (default: discarded).
	Logger *slog.Logger

	pkiDir string
}

// New starts an etcd and writes a PKI; both go away when the test ends.
func New(tb testing.TB) *Mesh {
	tb.Helper()
	dir := tb.TempDir()
	if _, err := devpki.Generate(dir, devpki.Named("gateway", "order", "inventory", "payment", "admin"), devpki.Options{}); err != nil {
		tb.Fatalf("generate dev PKI: %v", err)
	}
	etcd := etcdtest.Start(tb)
	return &Mesh{Etcd: etcd, KV: etcd.Client(tb), Logger: slog.New(slog.DiscardHandler), pkiDir: dir}
}

// Identity loads service's certificate from the mesh's PKI.
func (m *Mesh) Identity(tb testing.TB, service string) *tlsconf.Identity {
	tb.Helper()
	id, err := tlsconf.Load(m.pkiDir, service)
	if err != nil {
		tb.Fatalf("load identity %q: %v", service, err)
	}
	return id
}

// newEtcdClient returns a client of the mesh's etcd that the caller owns and
// must close: a backend's own session, which Kill closes to simulate a dead
// process.
func (m *Mesh) newEtcdClient(tb testing.TB) *clientv3.Client {
	tb.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{m.Etcd.Endpoint},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		tb.Fatalf("etcd client: %v", err)
	}
	return cli
}

// Client calls the inventory service the way a shopmesh service does:
// through grpcx.Conns, the etcd resolver and mutual TLS.
type Client struct {
	inventoryv1.InventoryServiceClient
	// Conns owns the connection; it is closed when the test ends.
	Conns *grpcx.Conns
	// Attempts records where each attempt of each call went.
	Attempts *Attempts
}

// Client returns a client that authenticates as caller and balances and
// retries calls to Service by p. It uses its own etcd client, and closes
// everything when the test ends.
func (m *Mesh) Client(tb testing.TB, caller string, p grpcx.Policy) *Client {
	tb.Helper()
	cli := m.newEtcdClient(tb)
	tb.Cleanup(func() { _ = cli.Close() })
	builder, err := discovery.NewBuilder(cli, m.Logger)
	if err != nil {
		tb.Fatalf("resolver builder: %v", err)
	}
	attempts := &Attempts{}
	conns := grpcx.NewConns(m.Identity(tb, caller),
		grpcx.WithResolver(builder),
		grpcx.WithTarget(discovery.Target),
		grpcx.WithPolicy(Service, p),
		grpcx.WithConnsLogger(m.Logger),
		grpcx.WithDialOptions(grpc.WithStatsHandler(attempts)),
	)
	// Registered after the etcd client's cleanup, so it runs first: the
	// resolver stops before its etcd client closes.
	tb.Cleanup(func() {
		if err := conns.Close(); err != nil {
			tb.Errorf("close conns: %v", err)
		}
	})
	cc, err := conns.Get(Service)
	if err != nil {
		tb.Fatalf("Conns.Get(%s): %v", Service, err)
	}
	return &Client{InventoryServiceClient: inventoryv1.NewInventoryServiceClient(cc), Conns: conns, Attempts: attempts}
}
