package order

import (
	"context"
	"fmt"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/overload"
)

// DefaultRecoveryInterval is how often the recovery loop runs a
// RecoveryPass (RECOVERY_INTERVAL).
const DefaultRecoveryInterval = 10 * time.Second

// recoveryBatch bounds the orders one RecoveryPass drives.
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

// RecoveryPass is one pass of the recovery loop, which the service runs
// every RECOVERY_INTERVAL with lifecycle.Every: RecoverStale with a bounded
// batch, so a pass ends and the next tick (or shutdown) gets a turn even
// when many orders are stale.
func (s *Service) RecoveryPass(ctx context.Context) (int, error) {
	return s.RecoverStale(ctx, recoveryBatch)
}

// lastStep names the last step o's history records.
func lastStep(o Order) string {
	if len(o.History) == 0 {
		return ""
	}
	return o.History[len(o.History)-1].Step
}
