package meshtest

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/discovery"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/internal/etcdtest"
	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"
)

// BackendOption configures StartBackend.
type BackendOption func(*backendConfig)

type backendConfig struct {
	identity         string
	ttl              time.Duration
	propagationDelay time.Duration
	delay            time.Duration
	register         bool
}

// WithIdentity makes the backend present service's certificate while it
// registers as Service: an impostor that clients must refuse.
func WithIdentity(service string) BackendOption {
	return func(c *backendConfig) { c.identity = service }
}

// WithTTL sets the lease TTL of the registration (default 2s).
func WithTTL(d time.Duration) BackendOption { return func(c *backendConfig) { c.ttl = d } }

// WithPropagationDelay sets how long Stop waits between revoking and
// draining (default 300ms).
func WithPropagationDelay(d time.Duration) BackendOption {
	return func(c *backendConfig) { c.propagationDelay = d }
}

// WithDelay makes every call take d before it is answered (see SetDelay).
func WithDelay(d time.Duration) BackendOption { return func(c *backendConfig) { c.delay = d } }

// Unregistered makes a backend that serves but never registers: a server
// only a poisoned registry entry could send traffic to.
func Unregistered() BackendOption { return func(c *backendConfig) { c.register = false } }

// Backend is one inventory instance: a grpcx server with its own TLS
// identity, run by lifecycle.Run and registered in etcd by a
// discovery.Registrar over its own etcd client. Its fake InventoryService
// answers GetProduct with the backend's name, so the client can tell who
// served each call.
type Backend struct {
	name string
	addr string
	key  string // empty when unregistered

	srv    *grpcx.Server
	etcd   *clientv3.Client
	lease  *sessionLease
	cancel context.CancelFunc // ends lifecycle.Run, which then stops in order
	done   chan struct{}      // closed when lifecycle.Run returned
	runErr error              // what Run returned; read after done

	delay        atomic.Int64  // time.Duration each call takes
	fail         atomic.Uint32 // codes.Code every call fails with; OK for none
	getCalls     atomic.Int64
	reserveCalls atomic.Int64

	closeEtcd sync.Once
	kill      sync.Once
}

// StartBackend starts a backend named name and, unless Unregistered, returns
// once its key is in etcd. It is stopped in order when the test ends, if the
// test has not stopped or killed it.
func (m *Mesh) StartBackend(tb testing.TB, name string, opts ...BackendOption) *Backend {
	tb.Helper()
	cfg := backendConfig{identity: Service, ttl: 2 * time.Second, propagationDelay: 300 * time.Millisecond, register: true}
	for _, o := range opts {
		o(&cfg)
	}
	lis := listen(tb)
	admin := listen(tb)
	b := &Backend{name: name, addr: lis.Addr().String(), done: make(chan struct{})}
	b.delay.Store(int64(cfg.delay))

	b.srv = grpcx.NewServer(m.Identity(tb, cfg.identity), grpcx.WithServerLogger(m.Logger),
		grpcx.WithAllowedCallers(map[string][]string{"/" + inventoryv1.InventoryService_ServiceDesc.ServiceName + "/": {grpcx.AnyCaller}}))
	inventoryv1.RegisterInventoryServiceServer(b.srv, &inventory{b: b})
	app := lifecycle.App{
		Name:             name,
		Logger:           m.Logger,
		Server:           b.srv,
		Listener:         lis,
		AdminListener:    admin,
		PropagationDelay: cfg.propagationDelay,
		ShutdownTimeout:  10 * time.Second,
	}

	// Its own etcd session, as a separate process would have: Kill closes
	// it, and with it the keep-alives, without revoking anything.
	b.etcd = m.newEtcdClient(tb)
	b.lease = &sessionLease{Lease: b.etcd.Lease}
	b.etcd.Lease = b.lease
	if cfg.register {
		reg, err := discovery.NewRegistrar(b.etcd, Service, discovery.Instance{Addr: b.addr, Version: name},
			discovery.WithTTL(cfg.ttl), discovery.WithLogger(m.Logger))
		if err != nil {
			_ = b.etcd.Close()
			_ = lis.Close()
			_ = admin.Close()
			tb.Fatalf("backend %s: %v", name, err)
		}
		app.Registrar = registrar{Registrar: reg, lease: b.lease}
		b.key = reg.Key()
	}

	ctx, cancel := context.WithCancel(context.Background()) //shopmesh:allow ctxflow a test backend's lifetime, ended by its cleanup
	b.cancel = cancel
	go func() {
		defer close(b.done)
		b.runErr = lifecycle.Run(ctx, app)
	}()
	tb.Cleanup(func() { b.cleanup(tb) })

	if b.key != "" {
		etcdtest.Eventually(tb, 5*time.Second, "backend "+name+" registered", func() bool {
			resp, err := m.KV.Get(tb.Context(), b.key)
			return err == nil && len(resp.Kvs) == 1
		})
	}
	return b
}

func listen(tb testing.TB) net.Listener {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	return lis
}

// Name is the backend's name, which GetProduct answers with.
func (b *Backend) Name() string { return b.name }

// Addr is where the backend serves gRPC.
func (b *Backend) Addr() string { return b.addr }

// Key is the backend's registration key; empty if it is unregistered.
func (b *Backend) Key() string { return b.key }

// SetDelay makes every call from now on take d (honoring its deadline)
// before it is answered.
func (b *Backend) SetDelay(d time.Duration) { b.delay.Store(int64(d)) }

// FailWith makes every call from now on fail with code after its delay;
// codes.OK makes calls succeed again.
func (b *Backend) FailWith(code codes.Code) { b.fail.Store(uint32(code)) }

// Calls is how many times the GetProduct handler ran.
func (b *Backend) Calls() int64 { return b.getCalls.Load() }

// ReserveCalls is how many times the Reserve handler ran.
func (b *Backend) ReserveCalls() int64 { return b.reserveCalls.Load() }

// LastRenewed is when the backend last heard etcd grant or renew its lease.
// A lease nobody keeps alive any more expires a TTL after it, not before.
func (b *Backend) LastRenewed() time.Time { return b.lease.last() }

// Stop runs the real ordered shutdown, lifecycle.Run's: NOT_SERVING, revoke
// the lease, wait the propagation delay, drain. It returns what Run
// returned, or ctx's error if Run is still stopping when ctx ends.
func (b *Backend) Stop(ctx context.Context) error {
	b.cancel()
	select {
	case <-b.done:
		return b.runErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Kill does what SIGKILL does to a process: its etcd session dies with
// nothing revoked, so the key stays until the lease expires, and the
// listener and every connection close at once, with no GOAWAY and no drain.
func (b *Backend) Kill() {
	b.kill.Do(func() {
		b.lease.dead.Store(true)
		b.srv.Server.Stop()
		b.closeEtcd.Do(func() { _ = b.etcd.Close() })
		// Let lifecycle.Run return. Its ordered stop finds nothing left to
		// do: the revoke is refused, as it could not happen in a dead
		// process, and the server is already stopped.
		b.cancel()
	})
}

// cleanup stops the backend if the test did not, and waits for Run.
func (b *Backend) cleanup(tb testing.TB) {
	b.cancel()
	select {
	case <-b.done:
	case <-time.After(20 * time.Second):
		tb.Errorf("backend %s: lifecycle.Run did not return 20s after it was told to stop", b.name)
	}
	b.closeEtcd.Do(func() { _ = b.etcd.Close() })
}

// work is the body every fake method shares: the delay, then the failure.
func (b *Backend) work(ctx context.Context) error {
	if d := time.Duration(b.delay.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	if c := codes.Code(b.fail.Load()); c != codes.OK {
		return status.Errorf(c, "%s fails on purpose", b.name)
	}
	return nil
}

// inventory is the fake service a Backend serves.
type inventory struct {
	inventoryv1.UnimplementedInventoryServiceServer
	b *Backend
}

var _ inventoryv1.InventoryServiceServer = (*inventory)(nil)

func (s *inventory) GetProduct(ctx context.Context, req *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
	s.b.getCalls.Add(1)
	if err := s.b.work(ctx); err != nil {
		return nil, err
	}
	return &inventoryv1.GetProductResponse{Product: &inventoryv1.Product{Id: req.GetId(), Name: s.b.name}}, nil
}

func (s *inventory) Reserve(ctx context.Context, req *inventoryv1.ReserveRequest) (*inventoryv1.ReserveResponse, error) {
	s.b.reserveCalls.Add(1)
	if err := s.b.work(ctx); err != nil {
		return nil, err
	}
	lines := make([]*inventoryv1.ReservedLine, 0, len(req.GetItems()))
	for _, it := range req.GetItems() {
		lines = append(lines, &inventoryv1.ReservedLine{ProductId: it.GetProductId(), Quantity: it.GetQuantity()})
	}
	return &inventoryv1.ReserveResponse{Lines: lines}, nil
}

// registrar is what lifecycle.Run sees of a backend's Registrar: once the
// backend is killed, Stop only ends the registration loop and leaves no time
// to revoke in (a dead process deregisters nothing, and a revoke refused
// would otherwise be retried for as long as the shutdown allows).
type registrar struct {
	*discovery.Registrar
	lease *sessionLease
}

// Stop implements lifecycle.Registrar.
func (r registrar) Stop(ctx context.Context) error {
	if r.lease.dead.Load() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		cancel()
	}
	return r.Registrar.Stop(ctx)
}

// sessionLease wraps a backend's etcd Lease API. It notes when etcd last
// granted or renewed a lease, so a test can tell a lease that expired from
// one that was revoked; and once its process is dead (Kill) it refuses every
// lease call, because a SIGKILLed process revokes nothing: without this, the
// Registrar, seeing its keep-alive end as the client closes, could still
// revoke the lease over the connection that is being closed.
type sessionLease struct {
	clientv3.Lease
	lastNano atomic.Int64
	dead     atomic.Bool
}

var errDead = errors.New("meshtest: the process was killed")

func (l *sessionLease) mark() { l.lastNano.Store(time.Now().UnixNano()) }

func (l *sessionLease) last() time.Time { return time.Unix(0, l.lastNano.Load()) }

// Grant implements clientv3.Lease.
func (l *sessionLease) Grant(ctx context.Context, ttl int64) (*clientv3.LeaseGrantResponse, error) {
	if l.dead.Load() {
		return nil, errDead
	}
	resp, err := l.Lease.Grant(ctx, ttl)
	if err == nil {
		l.mark()
	}
	return resp, err
}

// Revoke implements clientv3.Lease.
func (l *sessionLease) Revoke(ctx context.Context, id clientv3.LeaseID) (*clientv3.LeaseRevokeResponse, error) {
	if l.dead.Load() {
		return nil, errDead
	}
	return l.Lease.Revoke(ctx, id)
}

// KeepAliveOnce implements clientv3.Lease.
func (l *sessionLease) KeepAliveOnce(ctx context.Context, id clientv3.LeaseID) (*clientv3.LeaseKeepAliveResponse, error) {
	if l.dead.Load() {
		return nil, errDead
	}
	resp, err := l.Lease.KeepAliveOnce(ctx, id)
	if err == nil {
		l.mark()
	}
	return resp, err
}

// KeepAlive implements clientv3.Lease, noting each renewal on its way to
// the caller. The relay ends when the keep-alive does or ctx ends.
func (l *sessionLease) KeepAlive(ctx context.Context, id clientv3.LeaseID) (<-chan *clientv3.LeaseKeepAliveResponse, error) {
	if l.dead.Load() {
		return nil, errDead
	}
	in, err := l.Lease.KeepAlive(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make(chan *clientv3.LeaseKeepAliveResponse, 1)
	go func() {
		defer close(out)
		for resp := range in {
			l.mark()
			select {
			case out <- resp:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
