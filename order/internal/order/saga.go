package order

import (
	"context"
	"fmt"

	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/deadline"
)

// the last step its history records: a run that crashed or failed part way
// is continued, never repeated from the start. If a step's outcome is
// unknown (a peer unreachable or too slow) the order stays PENDING and the
// error is returned; a peer's final refusal ends the order, after whatever
// must be given back is given back.
//
// DESIGN.md, order flow: every step is recorded, and every peer call is
// idempotent by order id, so repeating the step a crash interrupted is safe.
func (s *Service) runSaga(ctx context.Context, o Order) (Order, error) {
	reservedNow := false
	if !o.Reached(StepReserved) {
		res, err := s.inventory.Reserve(deadline.Keep(ctx, api.RecordBudget), o.ID, o.Items)
		s.throttle.Observe(err)
		switch v := reserveVerdict(err); v.kind {
		case proceed:
		case end:
			// Nothing is held and nothing was charged: the charge comes
			// only after the reservation is recorded.
			o.Reason = v.reason
			return s.finish(ctx, o, v.status, StepRejected, err.Error())
		default:
			return s.stopShort(ctx, o, v, "reserve stock", err)
		}
		o.Lines, o.Total = res.Lines, res.Total
		s.record(&o, StepReserved, fmt.Sprintf("total %d %s", res.Total.Minor, res.Total.Currency))
		// Recorded before the charge: from here on the amount is fixed, and
		// a resumed run charges exactly this amount, never a new price.
		if err := s.save(ctx, &o, StepReserved); err != nil {
			return o, err
		}
		reservedNow = true
	}

	if !o.Reached(StepCharged) {
		if !reservedNow {
			// A resumed run: the reservation may have expired while the
			// order waited (a provider outage longer than its TTL). Take no
			// money for stock that is gone; a repeated Reserve also holds
			// the stock for another TTL.
			_, err := s.inventory.Reserve(deadline.Keep(ctx, api.RecordBudget), o.ID, o.Items)
			s.throttle.Observe(err)
			switch v := reserveVerdict(err); v.kind {
			case proceed:
			case end:
				// An earlier run may have charged before it crashed: give
				// that back too.
				return s.refundAndReject(ctx, o, v.reason, err)
			default:
				return s.stopShort(ctx, o, v, "check the reservation", err)
			}
		}
		// A repeat after a crash is answered from payment's record of this
		// order id: the customer is charged once.
		charge, err := s.payment.Charge(deadline.Keep(ctx, api.RecordBudget), o.ID, o.Total, o.PaymentToken)
		s.throttle.Observe(err)
		switch v := chargeVerdict(charge, err); v.kind {
		case proceed:
		case end:
			detail := charge.DeclineReason
			if err != nil {
				detail = err.Error()
			}
			return s.releaseAndEnd(ctx, o, v, detail)
		default:
			return s.stopShort(ctx, o, v, "charge", err)
		}
		s.record(&o, StepCharged, "")
		if err := s.save(ctx, &o, StepCharged); err != nil {
			return o, err
		}
	}

	err := s.inventory.Commit(deadline.Keep(ctx, api.RecordBudget), o.ID)
	s.throttle.Observe(err)
	switch v := commitVerdict(err); v.kind {
	case proceed:
		return s.finish(ctx, o, Confirmed, StepCommitted, "")
	case end:
		return s.refundAndReject(ctx, o, v.reason, err)
	default:
		return s.stopShort(ctx, o, v, "commit stock", err)
	}
}

// stopShort ends a run at a step whose verdict is not final: an answer
// that only an operator can settle parks the order; an outage, an unknown
// outcome or an unexpected answer leaves it as it is and returns the error,
// for a later run.
func (s *Service) stopShort(ctx context.Context, o Order, v verdict, step string, err error) (Order, error) {
	switch v.kind {
	case park:
		return s.park(ctx, o, v.attention)
	case unexpected:
		s.logger.ErrorContext(ctx, "a peer answered a step of the saga in a way no contract declares; retrying",
			"order_id", o.ID, "step", step, "err", err)
	}
	return o, fmt.Errorf("%s of order %s: %w", step, o.ID, err)
}

// releaseAndEnd gives back the stock of an order whose payment was refused
// (declined, or failed) and ends it with v's status and reason.
func (s *Service) releaseAndEnd(ctx context.Context, o Order, v verdict, detail string) (Order, error) {
	err := s.inventory.Release(deadline.Keep(ctx, api.RecordBudget), o.ID)
	if rv := releaseVerdict(err); rv.kind != proceed {
		return s.stopShort(ctx, o, rv, "release stock", err)
	}
	step := StepDeclined
	if v.status == PaymentFailed {
		step = StepPaymentFailed
	}
	o.Reason = v.reason
	return s.finish(ctx, o, v.status, step, detail)
}

// refundAndReject compensates an order whose stock could not be committed,
// or whose reservation is gone before the charge: refund whatever was
// taken, release what may still be held, end REJECTED with reason.
func (s *Service) refundAndReject(ctx context.Context, o Order, reason string, cause error) (Order, error) {
	if !o.Reached(StepRefunded) {
		err := s.payment.Refund(deadline.Keep(ctx, api.RecordBudget), o.ID)
		if v := refundVerdict(err); v.kind != proceed {
			return s.stopShort(ctx, o, v, "refund after losing the reservation", err)
		}
		s.record(&o, StepRefunded, cause.Error())
	}
	err := s.inventory.Release(deadline.Keep(ctx, api.RecordBudget), o.ID)
	if v := releaseVerdict(err); v.kind != proceed {
		return s.stopShort(ctx, o, v, "release stock", err)
	}
	o.Reason = reason
	return s.finish(ctx, o, Rejected, StepRejected, "reservation lost before commit")
}
