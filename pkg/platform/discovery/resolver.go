package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/backoff"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
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
	cli    *clientv3.Client
	logger *slog.Logger

	// listBackoffFirst and listBackoffMax space the lists of a resolver
	// whose lists (or the watches right after them) keep failing.
	listBackoffFirst, listBackoffMax time.Duration
	// resolveNowEvery is the shortest time between two lists asked for by
	// ResolveNow: gRPC calls it on every failing connection, and a burst of
	// them must not become a burst of lists.
	resolveNowEvery time.Duration
	// healthyWatch is how long a watch must last (or deliver a response)
	// for the list before it to count as a success.
	healthyWatch time.Duration

	skipped metric.Int64Counter
	relists metric.Int64Counter
	stats   resolverStats
	known   sync.Map // service → int: the size of the set last handed to gRPC
}

// Known returns how many instances of service the last address set handed
// to gRPC held, and false before any set was: what this process routes to
// now, etcd or no etcd. A readiness check uses it while etcd is away.
func (b *Builder) Known(service string) (int, bool) {
	v, ok := b.known.Load(service)
	if !ok {
		return 0, false
	}
	return v.(int), true
}

// resolverStats counts, over every resolver a Builder made, what made them
// list; the metrics say the same, the tests read these.
type resolverStats struct {
	lists, listFailures                             atomic.Int64
	compacted, watchFailed, watchClosed, resolveNow atomic.Int64
}

// Reasons for a new list, as the relists metric's "reason" attribute.
const (
	reasonCompacted   = "compacted"
	reasonWatchFailed = "watch_failed"
	reasonWatchClosed = "watch_closed"
	reasonResolveNow  = "resolve_now"
	reasonListFailed  = "list_failed"
)

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
	meter := otel.Meter("github.com/shopmesh/shopmesh/pkg/platform/discovery")
	skipped, _ := meter.Int64Counter("discovery.resolver.skipped_entries",
		metric.WithDescription("Registrations the resolver ignored because they did not decode or did not match their key"))
	relists, _ := meter.Int64Counter("discovery.resolver.relists",
		metric.WithDescription("Lists of a service's instances after the first, by reason: a compacted, failed or closed watch, a failed list, or ResolveNow"))
	return &Builder{
		cli: cli, logger: logger,
		listBackoffFirst: 200 * time.Millisecond, listBackoffMax: 3 * time.Second,
		resolveNowEvery: time.Second, healthyWatch: time.Second,
		skipped: skipped, relists: relists,
	}, nil
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
	ctx, cancel := context.WithCancel(context.Background()) //shopmesh:allow ctxflow gRPC gives Build no context; Close cancels this one
	r := &etcdResolver{
		b: b, cc: cc, prefix: ServicePrefix(service), service: service,
		logger: b.logger.With("resolver", Target(service)),
		cancel: cancel, done: make(chan struct{}), relist: make(chan struct{}, 1),
	}
	go r.run(ctx)
	return r, nil
}

// etcdResolver keeps a ClientConn's address list equal to the instances
// registered under prefix.
type etcdResolver struct {
	b       *Builder
	cc      resolver.ClientConn
	prefix  string
	service string
	logger  *slog.Logger

	cancel context.CancelFunc
	done   chan struct{}
	relist chan struct{} // ResolveNow's requests; one pending is enough

	closeOnce sync.Once

	// Only run touches these.
	pushed   bool     // a set was handed to gRPC at least once
	last     []string // the addresses pushed last
	listedAt time.Time
}

// ResolveNow asks for a fresh list; gRPC calls it when connections fail.
// Requests coalesce: at most one list per Builder.resolveNowEvery follows.
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
// unreachable etcd never empties the routing table. Lists that fail, and
// lists whose watch fails straight away, are spaced by a capped backoff;
// there is no last attempt.
func (r *etcdResolver) run(ctx context.Context) {
	defer close(r.done)
	failures := 0
	for {
		if failures > 0 && !backoff.Sleep(ctx, backoff.Delay(r.b.listBackoffFirst, r.b.listBackoffMax, failures)) {
			return
		}
		instances, rev, err := r.list(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			r.count(ctx, reasonListFailed)
			r.logger.WarnContext(ctx, "etcd list failed, keeping last known instances", "err", err, "failures", failures)
			if !r.pushed {
				// With nothing known yet, tell gRPC so RPCs fail fast
				// instead of waiting; with a known set, keep routing to it.
				r.cc.ReportError(err)
			}
			continue
		}
		r.push(instances)
		reason, healthy := r.watch(ctx, instances, rev)
		if ctx.Err() != nil {
			return
		}
		r.count(ctx, reason)
		if healthy {
			failures = 0
		} else {
			failures++
		}
	}
}

func (r *etcdResolver) count(ctx context.Context, reason string) {
	st := &r.b.stats
	switch reason {
	case reasonCompacted:
		st.compacted.Add(1)
	case reasonWatchFailed:
		st.watchFailed.Add(1)
	case reasonWatchClosed:
		st.watchClosed.Add(1)
	case reasonResolveNow:
		st.resolveNow.Add(1)
	case reasonListFailed:
		st.listFailures.Add(1)
	}
	r.b.relists.Add(ctx, 1, metric.WithAttributes(attribute.String("service", r.service), attribute.String("reason", reason)))
}

// list reads every instance under the prefix and the store revision it saw.
func (r *etcdResolver) list(ctx context.Context) (map[string]Instance, int64, error) {
	// This list answers every ResolveNow made so far.
	select {
	case <-r.relist:
	default:
	}
	r.listedAt = time.Now()
	r.b.stats.lists.Add(1)
	listCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	resp, err := r.b.cli.Get(listCtx, r.prefix, clientv3.WithPrefix())
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
		r.logger.WarnContext(ctx, "skipping malformed registration", "key", key, "err", err)
		r.b.skipped.Add(ctx, 1, metric.WithAttributes(attribute.String("service", r.service)))
		delete(instances, key)
		return
	}
	instances[key] = in
}

// watch follows changes after rev until the watch fails, ctx ends or gRPC
// asks for a fresh list. It returns why it stopped, and whether the watch
// was healthy: it delivered a response or lasted long enough that listing
// again at once cannot turn into a loop of lists.
func (r *etcdResolver) watch(ctx context.Context, instances map[string]Instance, rev int64) (string, bool) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	started, delivered := time.Now(), false
	healthy := func() bool { return delivered || time.Since(started) >= r.b.healthyWatch }
	// WithRequireLeader makes a member that lost its quorum cancel the watch,
	// so we move to a healthy member instead of waiting on a stale one.
	wch := r.b.cli.Watch(clientv3.WithRequireLeader(wctx), r.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	var due <-chan time.Time // a coalesced ResolveNow, once the last list is old enough
	for {
		select {
		case <-ctx.Done():
			return "", true
		case <-r.relist:
			wait := r.b.resolveNowEvery - time.Since(r.listedAt)
			if wait <= 0 {
				return reasonResolveNow, true
			}
			if due == nil {
				t := time.NewTimer(wait)
				defer t.Stop()
				due = t.C
			}
		case <-due:
			return reasonResolveNow, true
		case resp, ok := <-wch:
			if !ok {
				r.logger.WarnContext(ctx, "etcd watch closed, listing again")
				return reasonWatchClosed, healthy()
			}
			if err := resp.Err(); err != nil {
				if resp.CompactRevision != 0 || errors.Is(err, rpctypes.ErrCompacted) {
					// The watch fell behind a compaction: the changes it
					// missed are gone, only a new list can tell.
					r.logger.WarnContext(ctx, "etcd watch fell behind a compaction, listing again",
						"watched_from", rev+1, "compacted_at", resp.CompactRevision)
					return reasonCompacted, true
				}
				r.logger.WarnContext(ctx, "etcd watch failed, listing again", "err", err)
				return reasonWatchFailed, healthy()
			}
			delivered = true
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

// push hands the current set to gRPC when it differs from the last one. An
// empty set is pushed too: the balancer then fails RPCs fast with
// UNAVAILABLE instead of letting them wait for their deadline.
func (r *etcdResolver) push(instances map[string]Instance) {
	addrs := make([]string, 0, len(instances))
	for _, in := range instances {
		addrs = append(addrs, in.Addr)
	}
	sort.Strings(addrs)
	if r.pushed && slices.Equal(addrs, r.last) {
		return
	}
	eps := make([]resolver.Endpoint, 0, len(addrs))
	for _, a := range addrs {
		eps = append(eps, resolver.Endpoint{Addresses: []resolver.Address{{Addr: a}}})
	}
	r.pushed, r.last = true, addrs
	r.b.known.Store(r.service, len(addrs))
	// The error only says the balancer rejected the state; the next update
	// or ResolveNow brings a new one, so there is nothing to retry here.
	if err := r.cc.UpdateState(resolver.State{Endpoints: eps}); err != nil {
		r.logger.Debug("resolver state not accepted", "err", err, "instances", len(eps))
	}
	r.logger.Info("instances updated", "peer", r.service, "addrs", addrs)
}
