package order

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
	"github.com/shopmesh/shopmesh/pkg/platform/backoff"
	"github.com/shopmesh/shopmesh/pkg/platform/deadline"
)

// DefaultMaxAttempts is how many runs of the saga may stop short of an end
// before the order is parked for an operator (RECOVERY_MAX_ATTEMPTS).
// Between runs recovery waits RECOVERY_AFTER, doubling up to
// maxAttemptWaits of it, with jitter: with the defaults an order is parked
// after ten to twenty minutes of failures.
const DefaultMaxAttempts = 8

// maxAttemptWaits caps the wait between runs, in RECOVERY_AFTERs.
const maxAttemptWaits = 8

// parked counts orders parked for an operator, by the code of why.
var parked, _ = otel.Meter("github.com/shopmesh/shopmesh/order/internal/order").Int64Counter(
	"shopmesh.orders.parked", metric.WithDescription("Orders parked for an operator (NEEDS_ATTENTION)"))

// park sets o aside for an operator: NEEDS_ATTENTION with why, no claim, a
// log line and a metric. The run ends there; nothing retries it until an
// operator does (RetryOrder, CompensateOrder).
func (s *Service) park(ctx context.Context, o Order, why string) (Order, error) {
	ctx, cancel := deadline.Detach(ctx, api.RecordBudget)
	defer cancel()
	o.Status, o.Attention, o.ClaimedUntil, o.NextAttemptAt = NeedsAttention, why, time.Time{}, time.Time{}
	s.record(&o, StepParked, why)
	if err := s.save(ctx, &o, StepParked); err != nil {
		return o, err
	}
	code, _, _ := strings.Cut(why, ":")
	parked.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", code)))
	s.logger.ErrorContext(ctx, "order parked: it needs an operator (see GET /v1/admin/orders/parked)",
		"order_id", o.ID, "attention", why, "attempts", o.Attempts)
	return o, nil
}

// giveUp ends a run that stopped short of an end (cause): the attempt is
// counted, the claim given up, and recovery comes back after a wait that
// doubles with every attempt; once MaxAttempts have failed the order is
// parked instead. A run stopped by the service closing counts no attempt.
// It runs even when ctx is already cancelled (the caller gave up): without
// it, the order stays held until the claim runs out.
func (s *Service) giveUp(ctx context.Context, o *Order, cause error) {
	ctx, cancel := deadline.Detach(ctx, api.RecordBudget)
	defer cancel()
	now := s.clock()
	if !s.closing() {
		o.Attempts++
		if o.Attempts >= s.maxAttempts {
			*o, _ = s.park(ctx, *o, fmt.Sprintf("%s: %d runs stopped short; the last: %v", AttentionRetriesExhausted, o.Attempts, cause))
			return
		}
		o.NextAttemptAt = now.Add(backoff.Delay(s.after, maxAttemptWaits*s.after, o.Attempts))
	}
	o.ClaimedUntil = time.Time{}
	o.UpdatedAt = now
	if err := s.update(ctx, o); err != nil {
		s.logger.WarnContext(ctx, "could not give up the claim on an order; it runs out by itself",
			"order_id", o.ID, "err", err)
	}
}

// ListParked pages through the parked orders (NEEDS_ATTENTION), the longest
// parked first; pageToken is the id of the last order of the previous page.
func (s *Service) ListParked(ctx context.Context, pageSize int, pageToken string) ([]Order, string, error) {
	pageSize, err := pageLen(pageSize)
	if err != nil {
		return nil, "", err
	}
	orders, err := s.store.ListByStatus(ctx, NeedsAttention, pageToken, pageSize+1)
	if err != nil {
		return nil, "", fmt.Errorf("list parked orders: %w", err)
	}
	return page(orders, pageSize)
}

// RetryOrder takes a parked order up again where it stopped: a placement
// goes back to PENDING, a cancellation to CANCELLING, with its attempts
// counted afresh, and a run starts in the background at once. Errors:
// NotFound; FailedPrecondition unless the order is NEEDS_ATTENTION;
// Aborted (ErrStale) when a concurrent change won.
func (s *Service) RetryOrder(ctx context.Context, id string) (Order, error) {
	o, err := s.parkedOrder(ctx, id)
	if err != nil {
		return Order{}, err
	}
	o.Status = Pending
	if o.Reached(StepCancelRequested) {
		o.Status = Cancelling
	}
	o.Attempts, o.NextAttemptAt, o.Attention = 0, time.Time{}, ""
	o.ClaimedUntil = s.clock().Add(s.after)
	s.record(&o, StepTakenUp, "by an operator")
	if err := s.update(ctx, &o); err != nil {
		return o, fmt.Errorf("take order %s up again: %w", o.ID, err)
	}
	s.start(ctx, o) // not awaited: the operator watches the order
	return o, nil
}

// CompensateOrder gives a parked order up: it is cancelled (any money taken
// is refunded, any stock held goes back) and ends CANCELLED with reason
// COMPENSATED. It waits like CancelOrder. Errors as RetryOrder's.
func (s *Service) CompensateOrder(ctx context.Context, id string) (Order, error) {
	o, err := s.parkedOrder(ctx, id)
	if err != nil {
		return Order{}, err
	}
	o.Reason = ReasonCompensated
	if o, err = s.beginCancel(ctx, o, "compensation by an operator"); err != nil {
		return o, err
	}
	done, ok := s.start(ctx, o)
	if !ok {
		return o, nil
	}
	return s.await(ctx, o, done)
}

// parkedOrder reads order id and fails unless it is parked.
func (s *Service) parkedOrder(ctx context.Context, id string) (Order, error) {
	o, err := s.GetOrder(ctx, id)
	if err != nil {
		return Order{}, err
	}
	if o.Status != NeedsAttention {
		return Order{}, apperr.New(apperr.FailedPrecondition, "order %s is %s, not parked", id, o.Status)
	}
	return o, nil
}
