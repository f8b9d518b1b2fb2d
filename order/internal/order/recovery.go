package order

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/overload"
)

// DefaultRecoveryInterval is how often the recovery loop looks for stale
// orders (RECOVERY_INTERVAL).
const DefaultRecoveryInterval = 10 * time.Second

// recoveryBatch bounds the orders one pass drives, so a pass ends and the
// next tick (or Close) gets a turn even when many orders are stale.
const recoveryBatch = 100

// RecoverStale finishes or compensates orders left PENDING by a run that
// crashed or failed: it claims one order at a time that no run holds and
// that has not changed for the recovery grace period (WithRecoveryAfter),
// and drives it from its last recorded step. It drives at most limit
// orders and reports how many it claimed. An order whose steps fail again
// is given up and tried on a later pass; only a store failure ends the
// pass with an error.
//
// DESIGN.md, order flow: "a recovery loop finishes or compensates orders
// left PENDING by a crash". Safe with several replicas: a claim is taken by
// Store.ClaimStale, which never hands one order to two callers.
func (s *Service) RecoverStale(ctx context.Context, limit int) (int, error) {
	n := 0
	for n < limit {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		// One at a time: a claim starts running out when it is taken, so
		// claiming a batch would let the last orders' claims run out while
		// the first are driven.
		now := s.clock()
		claimed, err := s.store.ClaimStale(ctx, now, now.Add(-s.after), now.Add(s.after), 1)
		if err != nil {
			return n, fmt.Errorf("claim stale orders: %w", err)
		}
		if len(claimed) == 0 {
			return n, nil
		}
		n++
		o := claimed[0]
		s.logger.InfoContext(ctx, "recovering order", "order_id", o.ID, "last_step", lastStep(o), "updated_at", o.UpdatedAt)
		// A recovered order was admitted long ago: its steps are
		// continuing work for the peers' limits.
		runCtx, cancel := context.WithTimeout(overload.Continuing(ctx), o.ClaimedUntil.Sub(s.clock()))
		o, err = s.drive(runCtx, o, false)
		cancel()
		if err != nil {
			s.logger.WarnContext(ctx, "recovery of order failed; will retry", "order_id", o.ID, "err", err)
		}
	}
	return n, nil
}

// Recovery is a running recovery loop: it calls Service.RecoverStale every
// interval until closed. It owns one goroutine; Close stops it and waits.
type Recovery struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// StartRecovery starts the recovery loop of svc. The first pass runs at
// once, so orders a crash left behind are picked up as soon as this
// replica starts (after their grace period). ctx bounds the loop's life;
// Close ends it earlier.
func StartRecovery(ctx context.Context, svc *Service, interval time.Duration) (*Recovery, error) {
	if svc == nil {
		return nil, errors.New("order: recovery needs a service")
	}
	if interval <= 0 {
		return nil, fmt.Errorf("order: recovery interval %v must be positive", interval)
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &Recovery{cancel: cancel, done: make(chan struct{})}
	go r.loop(ctx, svc, interval)
	return r, nil
}

func (r *Recovery) loop(ctx context.Context, svc *Service, interval time.Duration) {
	defer close(r.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := svc.RecoverStale(ctx, recoveryBatch); err != nil && ctx.Err() == nil {
			svc.logger.WarnContext(ctx, "recovery pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close stops the loop and waits for it until ctx is done. An order being
// driven when Close is called stops at its next step and is left for
// another replica (or the next start) to finish. Close may be called more
// than once; its signature fits lifecycle.Closer.
func (r *Recovery) Close(ctx context.Context) error {
	r.cancel()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("recovery loop did not stop: %w", ctx.Err())
	}
}

func lastStep(o Order) string {
	if len(o.History) == 0 {
		return ""
	}
	return o.History[len(o.History)-1].Step
}
