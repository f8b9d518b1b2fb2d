package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc/resolver"
)

// Scheme is the gRPC target scheme served by Builder: "etcd:///<service>".
const Scheme = "etcd"

// Target returns the gRPC target that resolves service through etcd.
func Target(service string) string { return Scheme + ":///" + service }

// Builder builds resolvers that follow a service's instances in etcd. Pass
// it to grpc.NewClient with grpc.WithResolvers rather than registering it
// globally, so each ClientConn names the etcd client it uses.
type Builder struct {
	cli          *clientv3.Client
	logger       *slog.Logger
	retryBackoff time.Duration
	skipped      metric.Int64Counter
}

// NewBuilder returns a resolver builder over cli.
func NewBuilder(cli *clientv3.Client, logger *slog.Logger) (*Builder, error) {
	if cli == nil {
		return nil, errors.New("resolver: nil etcd client")
	}
	if logger == nil {
		logger = slog.Default()
	}
	// A counter that cannot be made is not worth failing over; the no-op
	// instrument keeps the code path the same.
	skipped, _ := otel.Meter("github.com/shopmesh/shopmesh/pkg/platform/discovery").Int64Counter(
		"discovery.resolver.skipped_entries",
		metric.WithDescription("Registrations the resolver ignored because they did not decode or did not match their key"))
	return &Builder{cli: cli, logger: logger, retryBackoff: 500 * time.Millisecond, skipped: skipped}, nil
}

// Scheme implements resolver.Builder.
func (b *Builder) Scheme() string { return Scheme }

// Build implements resolver.Builder. It starts the watch in the background
// and returns at once: gRPC calls Build synchronously, and an etcd that is
// slow must not stall the caller.
func (b *Builder) Build(target resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	service := target.Endpoint()
	if err := validateService(service); err != nil {
		return nil, fmt.Errorf("resolver: target %q: %w", target.URL.String(), err)
	}
	// Build gets no context from gRPC; the resolver's own lifetime is bounded
	// by Close, which cancels this one.
	ctx, cancel := context.WithCancel(context.Background())
	r := &etcdResolver{
		cli: b.cli, cc: cc, prefix: ServicePrefix(service), service: service,
		logger: b.logger.With("resolver", Target(service)), backoff: b.retryBackoff, skipped: b.skipped,
		cancel: cancel, done: make(chan struct{}), relist: make(chan struct{}, 1),
	}
	go r.run(ctx)
	return r, nil
}

// etcdResolver keeps a ClientConn's address list equal to the instances
// registered under prefix.
type etcdResolver struct {
	cli     *clientv3.Client
	cc      resolver.ClientConn
	prefix  string
	service string
	logger  *slog.Logger
	backoff time.Duration
	skipped metric.Int64Counter

	cancel context.CancelFunc
	done   chan struct{}
	relist chan struct{}

	closeOnce sync.Once
	pushed    bool // a set was handed to gRPC at least once; only run touches it
}

// ResolveNow asks for a fresh list; gRPC calls it when connections fail.
func (r *etcdResolver) ResolveNow(resolver.ResolveNowOptions) {
	select {
	case r.relist <- struct{}{}:
	default:
	}
}

// Close stops the watch and waits for its goroutine.
func (r *etcdResolver) Close() {
	r.closeOnce.Do(func() {
		r.cancel()
		<-r.done
	})
}

// run lists, then watches from the list's revision; any watch failure leads
// back to a list. The last pushed set stays in force in between, so an
// unreachable etcd never empties the routing table.
func (r *etcdResolver) run(ctx context.Context) {
	defer close(r.done)
	for ctx.Err() == nil {
		instances, rev, err := r.list(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.logger.Warn("etcd list failed, keeping last known instances", "err", err)
			if !r.pushed {
				// With nothing known yet, tell gRPC so RPCs fail fast
				// instead of waiting; with a known set, keep routing to it.
				r.cc.ReportError(err)
			}
			r.sleep(ctx)
			continue
		}
		r.push(instances)
		r.watch(ctx, instances, rev)
	}
}

func (r *etcdResolver) sleep(ctx context.Context) {
	t := time.NewTimer(r.backoff)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// list reads every instance under the prefix and the store revision it saw.
func (r *etcdResolver) list(ctx context.Context) (map[string]Instance, int64, error) {
	listCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	resp, err := r.cli.Get(listCtx, r.prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", r.prefix, err)
	}
	instances := make(map[string]Instance, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		r.apply(ctx, instances, string(kv.Key), kv.Value)
	}
	return instances, resp.Header.Revision, nil
}

// apply adds one key's instance to the set, skipping entries that do not
// decode or do not match their key.
func (r *etcdResolver) apply(ctx context.Context, instances map[string]Instance, key string, value []byte) {
	in, err := decodeInstance(key, value, r.prefix)
	if err != nil {
		r.logger.Warn("skipping malformed registration", "key", key, "err", err)
		r.skipped.Add(ctx, 1, metric.WithAttributes(attribute.String("service", r.service)))
		delete(instances, key)
		return
	}
	instances[key] = in
}

// watch follows changes after rev until the watch fails, ctx ends or gRPC
// asks for a fresh list.
func (r *etcdResolver) watch(ctx context.Context, instances map[string]Instance, rev int64) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// WithRequireLeader makes a member that lost its quorum cancel the watch,
	// so we move to a healthy member instead of waiting on a stale one.
	wch := r.cli.Watch(clientv3.WithRequireLeader(wctx), r.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.relist:
			return
		case resp, ok := <-wch:
			if !ok {
				r.logger.Warn("etcd watch closed, listing again")
				return
			}
			if err := resp.Err(); err != nil {
				r.logger.Warn("etcd watch failed, listing again", "err", err, "compacted_at", resp.CompactRevision)
				return
			}
			for _, ev := range resp.Events {
				key := string(ev.Kv.Key)
				if ev.Type == clientv3.EventTypeDelete {
					delete(instances, key)
					continue
				}
				r.apply(ctx, instances, key, ev.Kv.Value)
			}
			if len(resp.Events) > 0 {
				r.push(instances)
			}
		}
	}
}

// push hands the current set to gRPC. An empty set is pushed too: the
// balancer then fails RPCs fast with UNAVAILABLE instead of letting them
// wait for their deadline.
func (r *etcdResolver) push(instances map[string]Instance) {
	addrs := make([]string, 0, len(instances))
	for _, in := range instances {
		addrs = append(addrs, in.Addr)
	}
	sort.Strings(addrs)
	eps := make([]resolver.Endpoint, 0, len(addrs))
	for _, a := range addrs {
		eps = append(eps, resolver.Endpoint{Addresses: []resolver.Address{{Addr: a}}})
	}
	// The error only says the balancer rejected the state; the next update
	// or ResolveNow brings a new one, so there is nothing to retry here.
	r.pushed = true
	if err := r.cc.UpdateState(resolver.State{Endpoints: eps}); err != nil {
		r.logger.Debug("resolver state not accepted", "err", err, "instances", len(eps))
	}
	r.logger.Info("instances updated", "peer", r.service, "addrs", addrs)
}
