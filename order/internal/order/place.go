package order

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/trace"

	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
	"github.com/shopmesh/shopmesh/pkg/platform/overload"
)

// PlaceRequest is the input of Place.
type PlaceRequest struct {
	CustomerID     string
	IdempotencyKey string
	Items          []Item
	PaymentToken   string
}

func (r PlaceRequest) validate() error {
	switch {
	case r.CustomerID == "":
		return apperr.New(apperr.Invalid, "customer id is required")
	case r.IdempotencyKey == "" || len(r.IdempotencyKey) > api.MaxIdempotencyKeyLen:
		return apperr.New(apperr.Invalid, "idempotency key must have 1 to %d characters", api.MaxIdempotencyKeyLen)
	case len(r.Items) == 0 || len(r.Items) > api.MaxOrderItems:
		return apperr.New(apperr.Invalid, "an order needs 1 to %d items, got %d", api.MaxOrderItems, len(r.Items))
	}
	// Inventory refuses a product listed twice; caught only there, it would
	// leave the order PENDING for good.
	seen := make(map[string]bool, len(r.Items))
	for _, it := range r.Items {
		if it.ProductID == "" || it.Quantity < 1 || it.Quantity > api.MaxItemQuantity {
			return apperr.New(apperr.Invalid, "each item needs a product id and a quantity of 1 to %d", api.MaxItemQuantity)
		}
		if seen[it.ProductID] {
			return apperr.New(apperr.Invalid, "product %s listed twice", it.ProductID)
		}
		seen[it.ProductID] = true
	}
	return nil
}

// Place creates the order (or finds the one made with the same key)
// and runs the saga reserve → charge → commit to a final state. The saga
// runs in the background, within the order's claim, retrying steps whose
// peer failed; Place waits for it until ctx's deadline (keeping time
// to answer). An order that is not final by then is returned PENDING,
// without an error: it is recorded and will be finished (HTTP 202). An
// order that ends REJECTED or PAYMENT_DECLINED is returned with an apperr
// FailedPrecondition whose reason says why and whose metadata names it. A
// repeat returns the order as it is now, PENDING included. Errors before
// the order is recorded mean no order was created.
//
// replayed reports whether the order existed before this call (a repeat of
// the same idempotency key), so the API can answer 200 rather than 201.
func (s *Service) Place(ctx context.Context, req PlaceRequest) (_ Order, replayed bool, _ error) {
	if err := req.validate(); err != nil {
		return Order{}, false, err
	}
	if s.closing() {
		return Order{}, false, apperr.New(apperr.Unavailable, "this order service is stopping; retry, another replica will take the order")
	}
	if !s.throttle.Allow() {
		// Inventory or payment turn sagas' steps away: starting another
		// saga now would only wait on them. Nothing is created.
		return Order{}, false, apperr.New(apperr.Unavailable, "orders are being refused while inventory or payment is at capacity; retry in %v", overload.RetryAfter).
			WithReason(overload.Reason).WithCause(overload.ErrOverloaded)
	}
	hash := RequestHash(req.CustomerID, req.PaymentToken, req.Items)
	now := s.clock()
	// The new order is claimed by this run from the start.
	o, created, err := s.create(ctx, Order{
		ID: s.newID(), CustomerID: req.CustomerID, IdempotencyKey: req.IdempotencyKey,
		RequestHash: hash, PaymentToken: req.PaymentToken, Items: req.Items, Status: Pending,
		History:   []Event{{At: now, Step: StepCreated}},
		CreatedAt: now, UpdatedAt: now, ClaimedUntil: now.Add(s.after),
		TraceID: traceID(ctx),
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			// The write may have committed after its budget ran out: the
			// outcome is unknown, not "nothing done" (a 503 promises that).
			// A repeat with the same key learns it; an order that was
			// recorded is finished by recovery.
			return Order{}, false, apperr.New(apperr.Timeout,
				"the order was not confirmed recorded within its budget; repeat the request with the same Idempotency-Key to learn its state").WithCause(err)
		}
		return Order{}, false, fmt.Errorf("create order: %w", err)
	}
	if !created && o.RequestHash != hash {
		return Order{}, false, apperr.New(apperr.Conflict, "idempotency key %q was used for a different order", req.IdempotencyKey)
	}
	if o.Status != Pending {
		return o, !created, outcomeError(o)
	}
	if !created {
		// A retry of an order whose saga has not finished. Every step is
		// idempotent by order id, so continuing it is safe, but only while
		// no other run holds it; if one does, the order is answered as it is.
		if o, err = s.claim(ctx, o); err != nil {
			if errors.Is(err, ErrStale) {
				o, err = s.current(ctx, o)
			}
			return o, !created, err
		}
	}
	done, ok := s.start(ctx, o)
	if !ok {
		// Stopping: the order is recorded; recovery on a replica ends it.
		return o, !created, nil
	}
	o, err = s.await(ctx, o, done)
	return o, !created, err
}

// claim takes a PENDING order no run holds for this run; an order held by
// another run fails with ErrStale.
func (s *Service) claim(ctx context.Context, o Order) (Order, error) {
	now := s.clock()
	if o.ClaimedUntil.After(now) {
		return o, ErrStale
	}
	o.ClaimedUntil = now.Add(s.after)
	if err := s.update(ctx, &o); err != nil {
		return o, fmt.Errorf("claim order %s: %w", o.ID, err)
	}
	return o, nil
}

// current answers for an order another run drives: its outcome if that run
// finished it, or the order as it is, PENDING, while one still drives it.
func (s *Service) current(ctx context.Context, o Order) (Order, error) {
	cur, err := s.get(ctx, o.ID)
	if err != nil {
		return o, fmt.Errorf("reload order: %w", err)
	}
	return cur, outcomeError(cur)
}

// outcomeError turns an unsuccessful final state into the error Place
// reports, so a repeat of the request gets the same answer as the first.
func outcomeError(o Order) error {
	switch o.Status {
	case Rejected:
		switch o.Reason {
		case ReasonUnknownProduct:
			return apperr.New(apperr.Invalid, "order %s rejected: it names a product that does not exist", o.ID).WithReason(o.Reason, "order_id", o.ID)
		case ReasonMixedCurrency:
			return apperr.New(apperr.Invalid, "order %s rejected: its products are priced in different currencies", o.ID).WithReason(o.Reason, "order_id", o.ID)
		case ReasonReservationExpired:
			return apperr.New(apperr.FailedPrecondition, "order %s rejected: its stock reservation expired; nothing was charged", o.ID).WithReason(o.Reason, "order_id", o.ID)
		}
		return apperr.New(apperr.FailedPrecondition, "order %s rejected: out of stock", o.ID).WithReason(ReasonOutOfStock, "order_id", o.ID)
	case PaymentDeclined:
		return apperr.New(apperr.FailedPrecondition, "order %s: payment declined", o.ID).WithReason(ReasonPaymentDeclined, "order_id", o.ID)
	case PaymentFailed:
		return apperr.New(apperr.FailedPrecondition, "order %s: the payment provider refused the payment details; nothing was charged", o.ID).
			WithReason(ReasonPaymentFailed, "order_id", o.ID)
	}
	return nil
}

// traceID is the id of ctx's trace as 32 hex digits, or "" when ctx carries
// none: what an order keeps to lead an operator to its spans.
func traceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return ""
}
