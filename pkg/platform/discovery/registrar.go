package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/backoff"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// RegistrarOption configures a Registrar.
type RegistrarOption func(*Registrar)

// WithTTL sets the lease TTL (default 10s): how long a crashed instance stays
// routable at most.
func WithTTL(ttl time.Duration) RegistrarOption { return func(r *Registrar) { r.ttl = ttl } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) RegistrarOption { return func(r *Registrar) { r.logger = l } }

// WithRetryBackoff sets the first and the largest wait between attempts to
// register again after the lease was lost (default 100ms and 5s).
func WithRetryBackoff(first, largest time.Duration) RegistrarOption {
	return func(r *Registrar) { r.backoffFirst, r.backoffMax = first, largest }
}

// Registrar keeps one instance registered under a lease.
type Registrar struct {
	cli     *clientv3.Client
	service string
	inst    Instance
	key     string
	value   string

	ttl                      time.Duration
	backoffFirst, backoffMax time.Duration
	logger                   *slog.Logger

	mu sync.Mutex
	// lease is the lease the key was last put under, 0 before the first
	// put and after Stop. It stays set while the registration is in doubt
	// (keep-alive lost): etcd may still hold the key under it.
	lease clientv3.LeaseID
	// orphans are leases granted whose put failed without saying whether
	// it happened; the next successful put or Stop revokes them.
	orphans    []clientv3.LeaseID
	registered bool // put and kept alive, and not seen lost since
	cancel     context.CancelFunc
	done       chan struct{}
	stopped    bool
}

// NewRegistrar returns a Registrar for one instance of service. It does not
// contact etcd until Start.
func NewRegistrar(cli *clientv3.Client, service string, inst Instance, opts ...RegistrarOption) (*Registrar, error) {
	if cli == nil {
		return nil, errors.New("registrar: nil etcd client")
	}
	if err := validateService(service); err != nil {
		return nil, fmt.Errorf("registrar: %w", err)
	}
	if inst.StartedAt.IsZero() {
		inst.StartedAt = time.Now().UTC()
	}
	if err := inst.Validate(); err != nil {
		return nil, fmt.Errorf("registrar: %w", err)
	}
	value, err := json.Marshal(inst)
	if err != nil {
		return nil, fmt.Errorf("registrar: encode instance: %w", err)
	}
	r := &Registrar{
		cli: cli, service: service, inst: inst,
		key: Key(service, inst.Addr), value: string(value),
		ttl: 10 * time.Second, backoffFirst: 100 * time.Millisecond, backoffMax: 5 * time.Second,
		logger: slog.Default(),
	}
	for _, o := range opts {
		o(r)
	}
	if r.ttl < time.Second {
		return nil, fmt.Errorf("registrar: ttl %v below etcd's minimum of 1s", r.ttl)
	}
	if r.backoffFirst <= 0 || r.backoffMax < r.backoffFirst {
		return nil, fmt.Errorf("registrar: invalid backoff %v..%v", r.backoffFirst, r.backoffMax)
	}
	return r, nil
}

// Key is the etcd key this Registrar maintains.
func (r *Registrar) Key() string { return r.key }

// Start registers the instance in the background and keeps it registered
// until Stop. It returns at once: an etcd that is away delays registration,
// it never stops the service from starting (call it once the server is
// serving, so no client is sent to an instance that cannot answer yet).
func (r *Registrar) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cancel != nil || r.stopped {
		return errors.New("registrar: already started")
	}
	// The loop outlives Start's caller on purpose; Stop ends it.
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel, r.done = cancel, make(chan struct{})
	go r.loop(loopCtx)
	return nil
}

// loop grants a lease, puts the key and holds both; when either is lost it
// starts over after a backoff, for as long as the process lives.
func (r *Registrar) loop(ctx context.Context) {
	defer close(r.done)
	failures := 0
	for {
		if failures > 0 && !backoff.Sleep(ctx, backoff.Delay(r.backoffFirst, r.backoffMax, failures)) {
			return
		}
		// The keep-alive of this registration ends with it: a lease whose
		// key was deleted or replaced must not be kept alive for nothing.
		holdCtx, stopHolding := context.WithCancel(ctx)
		kaCh, lease, rev, err := r.register(holdCtx)
		if err != nil {
			stopHolding()
			if ctx.Err() != nil {
				return
			}
			failures++
			r.logger.WarnContext(ctx, "etcd registration failed, retrying", "key", r.key, "err", err, "attempt", failures)
			continue
		}
		held := time.Now()
		why := r.hold(holdCtx, kaCh, lease, rev)
		stopHolding()
		r.setRegistered(false)
		if ctx.Err() != nil {
			return
		}
		r.logger.WarnContext(ctx, "etcd registration lost, registering again", "key", r.key, "why", why)
		// A registration that is lost as soon as it is made (a script
		// deleting the key in a loop) must not turn into a put storm.
		if time.Since(held) >= r.ttl {
			failures = 0
		}
		failures++
	}
}

// register grants a new lease, puts the key under it and keeps it alive.
//
// The key moves to the new lease before the old lease is revoked: the old
// one may still be alive in etcd (the keep-alive channel closes when no
// answer came for a TTL, which an etcd restart or a leader election can
// cause while etcd keeps the lease), and revoking it first would delete the
// key and take the instance out of every client's routing until the put.
func (r *Registrar) register(ctx context.Context) (<-chan *clientv3.LeaseKeepAliveResponse, clientv3.LeaseID, int64, error) {
	reqCtx, cancel := context.WithTimeout(ctx, r.ttl/2)
	defer cancel()
	grant, err := r.cli.Grant(reqCtx, int64(r.ttl/time.Second))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("grant lease: %w", err)
	}
	put, err := r.cli.Put(reqCtx, r.key, r.value, clientv3.WithLease(grant.ID))
	if err != nil {
		// A put that timed out may still have happened. Revoking the lease
		// now could delete the key if it did; keep the lease to revoke once
		// the key is safely on another one, or at Stop.
		r.mu.Lock()
		r.orphans = append(r.orphans, grant.ID)
		r.mu.Unlock()
		return nil, 0, 0, fmt.Errorf("put %s: %w", r.key, err)
	}
	r.mu.Lock()
	stale := r.orphans
	if r.lease != 0 {
		stale = append(stale, r.lease)
	}
	r.lease, r.orphans = grant.ID, nil
	r.mu.Unlock()
	for _, id := range stale {
		r.revokeQuietly(ctx, id)
	}
	kaCh, err := r.cli.KeepAlive(ctx, grant.ID)
	if err != nil {
		// Only a closed client or a stopping Registrar gets here; the key
		// stays under r.lease for Stop to revoke.
		return nil, 0, 0, fmt.Errorf("keep lease alive: %w", err)
	}
	r.setRegistered(true)
	r.logger.InfoContext(ctx, "registered in etcd", "key", r.key, "lease", fmt.Sprintf("%x", grant.ID), "ttl", r.ttl)
	return kaCh, grant.ID, put.Header.Revision, nil
}

// hold returns when the registration is gone: the keep-alive channel closed
// (lease expired or revoked, or no answer within the TTL), or the key was
// deleted or put under another lease (an operator, or a revoke seen before
// the next keep-alive). It watches the key so a deleted key is noticed at
// once rather than never: the lease outlives its key.
//
// When the watch ends (etcd cancels watches on a member that lost its
// leader, a compaction, a closed stream), hold reads the key to make sure it
// is still there and watches again from that read; until then it relies on
// the keep-alive alone.
func (r *Registrar) hold(ctx context.Context, kaCh <-chan *clientv3.LeaseKeepAliveResponse, lease clientv3.LeaseID, rev int64) string {
	var (
		wch       clientv3.WatchChan
		stopWatch = func() {}
		check     <-chan time.Time
		failures  int
	)
	defer func() { stopWatch() }()
	watchAfter := func(rev int64) {
		wctx, cancel := context.WithCancel(ctx) //nolint:gosec // G118: cancel is stopWatch, called before the next watch and on return
		stopWatch = cancel
		// WithRequireLeader: a member cut off from its leader ends the
		// watch instead of leaving it silently stale.
		wch = r.cli.Watch(clientv3.WithRequireLeader(wctx), r.key, clientv3.WithRev(rev+1))
	}
	watchAfter(rev)
	for {
		select {
		case <-ctx.Done():
			return "stopping"
		case _, ok := <-kaCh:
			if !ok {
				return "lease lost"
			}
		case resp, ok := <-wch:
			if ok && resp.Err() == nil {
				for _, ev := range resp.Events {
					if ev.Type == clientv3.EventTypeDelete {
						return "key deleted"
					}
					if clientv3.LeaseID(ev.Kv.Lease) != lease {
						return "key put under another lease"
					}
				}
				failures = 0
				continue
			}
			stopWatch()
			wch = nil
			failures++
			check = time.After(backoff.Delay(r.backoffFirst, r.backoffMax, failures))
		case <-check:
			check = nil
			ours, rev, err := r.stillOurs(ctx, lease)
			switch {
			case err != nil:
				// etcd unreachable: the keep-alive says when the lease is
				// gone; look again later.
				failures++
				check = time.After(backoff.Delay(r.backoffFirst, r.backoffMax, failures))
			case !ours:
				return "key deleted or replaced while the watch was down"
			default:
				watchAfter(rev)
			}
		}
	}
}

// stillOurs reads the key and reports whether it holds this instance under
// lease, with the revision of the read.
func (r *Registrar) stillOurs(ctx context.Context, lease clientv3.LeaseID) (bool, int64, error) {
	getCtx, cancel := context.WithTimeout(ctx, r.ttl/2)
	defer cancel()
	resp, err := r.cli.Get(getCtx, r.key)
	if err != nil {
		return false, 0, err
	}
	ours := len(resp.Kvs) == 1 && clientv3.LeaseID(resp.Kvs[0].Lease) == lease && string(resp.Kvs[0].Value) == r.value
	return ours, resp.Header.Revision, nil
}

// revokeQuietly drops a lease that holds no key any more; if etcd is away
// the lease simply expires.
func (r *Registrar) revokeQuietly(ctx context.Context, id clientv3.LeaseID) {
	revokeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	_, _ = r.cli.Revoke(revokeCtx, id)
}

func (r *Registrar) setRegistered(ok bool) {
	r.mu.Lock()
	r.registered = ok
	r.mu.Unlock()
}

// Registered reports whether the instance currently holds its key under a
// lease that is being kept alive.
func (r *Registrar) Registered() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.registered
}

// Stop ends the keep-alive loop and revokes the lease, which deletes the key
// at once so watchers stop routing here before the server drains. It is
// idempotent. If etcd cannot be reached within ctx the key expires with its
// lease instead, and Stop returns that error.
func (r *Registrar) Stop(ctx context.Context) error {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return nil
	}
	r.stopped = true
	cancel, done := r.cancel, r.done
	r.mu.Unlock()

	if cancel != nil {
		cancel()
		<-done
	}
	// Read the leases only after the loop ended, so a registration that was
	// under way when Stop began is revoked too.
	r.mu.Lock()
	leases := r.orphans
	if r.lease != 0 {
		leases = append(leases, r.lease)
	}
	r.lease, r.orphans, r.registered = 0, nil, false
	r.mu.Unlock()
	if len(leases) == 0 {
		return nil
	}
	var errs []error
	for _, id := range leases {
		if err := r.revoke(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("revoke lease of %s: %w", r.key, err)
	}
	r.logger.InfoContext(ctx, "deregistered from etcd", "key", r.key)
	return nil
}

// revokeAttempt bounds one revoke request. A revoke sent while the leader is
// being replaced can be lost with the old leader, and etcd then keeps the
// request waiting for its whole request timeout (5s and more); sending it
// again reaches the new leader.
const revokeAttempt = time.Second

// revoke revokes lease, retrying until ctx ends. A lease that is already
// gone counts as revoked.
func (r *Registrar) revoke(ctx context.Context, id clientv3.LeaseID) error {
	for attempt := 1; ; attempt++ {
		attemptCtx, cancel := context.WithTimeout(ctx, revokeAttempt)
		_, err := r.cli.Revoke(attemptCtx, id)
		cancel()
		if err == nil || errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return nil
		}
		if ctx.Err() != nil || !backoff.Sleep(ctx, backoff.Delay(50*time.Millisecond, 500*time.Millisecond, attempt)) {
			return err
		}
	}
}
