package order

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
	"github.com/shopmesh/shopmesh/pkg/platform/deadline"
)

// CancelOrder cancels a confirmed order: it records the cancellation
// (CANCELLING), then refunds and restocks, in a run of its own like a
// placement's saga. It waits for the run until ctx's deadline (keeping time
// to answer) and returns the order CANCELLED, or CANCELLING if the run has
// not finished; the run, or recovery, finishes it. A repeat returns the
// order as it is, continuing a cancellation no run holds. Errors:
// FailedPrecondition for an order in any other status; Aborted (ErrStale)
// when a concurrent change won.
func (s *Service) CancelOrder(ctx context.Context, id string) (Order, error) {
	o, err := s.GetOrder(ctx, id)
	if err != nil {
		return Order{}, err
	}
	switch o.Status {
	case Cancelled:
		return o, nil
	case Cancelling:
		if o, err = s.claim(ctx, o); err != nil {
			if errors.Is(err, ErrStale) {
				return s.get(ctx, o.ID) // another run drives it
			}
			return o, err
		}
	case Confirmed:
		if o, err = s.beginCancel(ctx, o, "by the customer"); err != nil {
			return o, err
		}
	default:
		return Order{}, apperr.New(apperr.FailedPrecondition, "order %s is %s and cannot be cancelled", id, o.Status)
	}
	done, ok := s.start(ctx, o)
	if !ok {
		return o, nil // stopping: recorded, recovery on a replica ends it
	}
	return s.await(ctx, o, done)
}

// beginCancel records that o is being cancelled, claimed by this call.
func (s *Service) beginCancel(ctx context.Context, o Order, why string) (Order, error) {
	now := s.clock()
	o.Status, o.ClaimedUntil = Cancelling, now.Add(s.after)
	o.Attempts, o.NextAttemptAt, o.Attention = 0, time.Time{}, ""
	s.record(&o, StepCancelRequested, why)
	if err := s.update(ctx, &o); err != nil {
		return o, fmt.Errorf("record the cancellation of order %s: %w", o.ID, err)
	}
	return o, nil
}

// runCancel drives a claimed, cancelling order to CANCELLED: refund (once:
// recorded), then restock. Like runSaga it resumes after the last recorded
// step and returns an error when a step's outcome is unknown.
func (s *Service) runCancel(ctx context.Context, o Order) (Order, error) {
	if !o.Reached(StepRefunded) {
		err := s.payment.Refund(deadline.Keep(ctx, api.RecordBudget), o.ID)
		s.throttle.Observe(err)
		if v := refundVerdict(err); v.kind != proceed {
			return s.stopShort(ctx, o, v, "refund", err)
		}
		s.record(&o, StepRefunded, "")
		if err := s.save(ctx, &o, StepRefunded); err != nil {
			return o, err
		}
	}
	err := s.inventory.Release(deadline.Keep(ctx, api.RecordBudget), o.ID)
	s.throttle.Observe(err)
	if v := releaseVerdict(err); v.kind != proceed {
		return s.stopShort(ctx, o, v, "restock", err)
	}
	return s.finish(ctx, o, Cancelled, StepRestocked, "")
}
