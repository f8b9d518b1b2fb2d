package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

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
func WithRetryBackoff(first, max time.Duration) RegistrarOption {
	return func(r *Registrar) { r.backoffFirst, r.backoffMax = first, max }
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

	mu      sync.Mutex
	lease   clientv3.LeaseID // current lease, 0 when not registered
	cancel  context.CancelFunc
	done    chan struct{}
	stopped bool
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
	wait := r.backoffFirst
	for {
		holdCtx, stopHolding := context.WithCancel(ctx)
		kaCh, rev, err := r.register(holdCtx)
		if err == nil {
			wait = r.backoffFirst
			why := r.hold(holdCtx, kaCh, rev)
			stopHolding()
			if ctx.Err() != nil {
				return
			}
			r.logger.WarnContext(ctx, "etcd registration lost, registering again", "key", r.key, "why", why)
			// The old lease may still be alive (key deleted by hand): drop
			// it so it does not linger until its TTL.
			r.revokeQuietly(ctx, r.currentLease())
		} else {
			stopHolding()
			if ctx.Err() != nil {
				return
			}
			r.logger.WarnContext(ctx, "etcd registration failed, retrying", "key", r.key, "err", err, "retry_in", wait)
		}
		// Full jitter keeps a fleet that lost etcd together from coming
		// back in lockstep.
		sleep := wait/2 + rand.N(wait/2+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(sleep):
		}
		wait = min(2*wait, r.backoffMax)
	}
}

// hold returns when the registration is gone: the keep-alive channel closed
// (lease expired or revoked, or no answer within the TTL) or the key was
// deleted (an operator, or a revoke seen before the next keep-alive). It
// watches the key so a revoked lease is noticed at once rather than at the
// next keep-alive, a third of the TTL later.
func (r *Registrar) hold(ctx context.Context, kaCh <-chan *clientv3.LeaseKeepAliveResponse, rev int64) string {
	wch := r.cli.Watch(clientv3.WithRequireLeader(ctx), r.key, clientv3.WithRev(rev+1), clientv3.WithFilterPut())
	for {
		select {
		case <-ctx.Done():
			return "stopping"
		case _, ok := <-kaCh:
			if !ok {
				return "lease lost"
			}
		case resp, ok := <-wch:
			if !ok || resp.Err() != nil {
				// etcd unreachable or lost its leader: keep relying on the
				// keep-alive channel, which closes once the lease is gone.
				wch = nil
				continue
			}
			if len(resp.Events) > 0 {
				return "key deleted"
			}
		}
	}
}

func (r *Registrar) register(ctx context.Context) (<-chan *clientv3.LeaseKeepAliveResponse, int64, error) {
	reqCtx, cancel := context.WithTimeout(ctx, r.ttl/2)
	defer cancel()
	lease, err := r.cli.Grant(reqCtx, int64(r.ttl/time.Second))
	if err != nil {
		return nil, 0, fmt.Errorf("grant lease: %w", err)
	}
	// Remember the lease before anything else can fail, so Stop revokes it
	// even if the put or the keep-alive below does not complete.
	r.setLease(lease.ID)
	put, err := r.cli.Put(reqCtx, r.key, r.value, clientv3.WithLease(lease.ID))
	if err != nil {
		r.revokeQuietly(ctx, lease.ID)
		return nil, 0, fmt.Errorf("put %s: %w", r.key, err)
	}
	kaCh, err := r.cli.KeepAlive(ctx, lease.ID)
	if err != nil {
		r.revokeQuietly(ctx, lease.ID)
		return nil, 0, fmt.Errorf("keep lease alive: %w", err)
	}
	r.logger.InfoContext(ctx, "registered in etcd", "key", r.key, "lease", fmt.Sprintf("%x", lease.ID), "ttl", r.ttl)
	return kaCh, put.Header.Revision, nil
}

func (r *Registrar) currentLease() clientv3.LeaseID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lease
}

// revokeQuietly drops a lease that will not be used; if etcd is away the
// lease simply expires.
func (r *Registrar) revokeQuietly(ctx context.Context, id clientv3.LeaseID) {
	r.setLease(0)
	if id == 0 {
		return
	}
	revokeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	_, _ = r.cli.Revoke(revokeCtx, id)
}

func (r *Registrar) setLease(id clientv3.LeaseID) {
	r.mu.Lock()
	r.lease = id
	r.mu.Unlock()
}

// Registered reports whether the instance currently holds a live lease.
func (r *Registrar) Registered() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lease != 0
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
	// Read the lease only after the loop ended, so a registration that was
	// under way when Stop began is revoked too.
	r.mu.Lock()
	lease := r.lease
	r.lease = 0
	r.mu.Unlock()
	if lease == 0 {
		return nil
	}
	if _, err := r.cli.Revoke(ctx, lease); err != nil {
		return fmt.Errorf("revoke lease of %s: %w", r.key, err)
	}
	r.logger.InfoContext(ctx, "deregistered from etcd", "key", r.key)
	return nil
}
