// Package payment is the payment domain: one payment per order, taken from
// the external provider with an idempotency key derived from the order id,
// so that no retry can charge an order twice.
//
// Every attempt is recorded before the provider is called (status Pending,
// with its key). After a crash, a timeout or a lost answer the record says
// that a charge may exist, and the next attempt first asks the provider for
// the charge made with that key; only if there is none does it charge, and
// then with the same key. Refunds work the same way (RefundPending).
//
// A provider answer is one of three kinds, kept apart all the way to the
// caller:
//
//   - declined: the card was refused. The payment is Declined; Charge
//     returns it without an error.
//   - failed: the provider refused the request for another reason (a 4xx
//     such as a validation error) and charged nothing. The payment is
//     Failed; Charge returns apperr FailedPrecondition (reason
//     PAYMENT_FAILED) now and on every repeat.
//   - unknown: no answer (timeout, dropped connection, 5xx, circuit open).
//     The service asks the provider by key; if that fails too the payment
//     stays Pending and Charge returns apperr Unavailable: the caller
//     repeats with the same order id, and the repeat resolves it.
package payment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
	"github.com/shopmesh/shopmesh/pkg/platform/deadline"
)

// Money is an amount in integer minor units with its ISO 4217 currency.
type Money struct {
	Currency string
	Minor    int64
}

// Status is where a payment stands.
type Status string

// Payment statuses. Pending and RefundPending are attempts whose answer is
// not known yet; the others are settled.
const (
	// Pending: a charge is being attempted (or was, and its outcome is
	// unknown). A charge with ChargeKey may exist at the provider.
	Pending Status = "PENDING"
	// Succeeded: the money is taken.
	Succeeded Status = "SUCCEEDED"
	// Declined: the card was refused; nothing was taken.
	Declined Status = "DECLINED"
	// Failed: the provider refused the request for a reason other than the
	// card (FailureReason); nothing was taken.
	Failed Status = "FAILED"
	// RefundPending: a refund is being attempted (or was, and its outcome is
	// unknown). A refund with RefundKey may exist at the provider.
	RefundPending Status = "REFUND_PENDING"
	// Refunded: the money was given back.
	Refunded Status = "REFUNDED"
)

// Statuses lists every Status, for code that must handle each.
var Statuses = []Status{Pending, Succeeded, Declined, Failed, RefundPending, Refunded}

// Reasons set on the apperr errors the service returns, for the order
// saga to tell cases apart; declared for callers in pkg/api (api.Refusals).
const (
	// ReasonPaymentFailed: the provider refused the charge (not a decline).
	ReasonPaymentFailed = api.ReasonPaymentFailed
	// ReasonNothingToRefund: the payment took no money.
	ReasonNothingToRefund = api.ReasonNothingToRefund
	// ReasonRefundFailed: the provider refused the refund.
	ReasonRefundFailed = api.ReasonRefundFailed
	// ReasonPaymentRefunded: a Charge of an order whose payment was given back.
	ReasonPaymentRefunded = api.ReasonPaymentRefunded
)

// Payment is the record of one order's charge.
type Payment struct {
	OrderID string
	Amount  Money
	Status  Status
	// ChargeKey is the Idempotency-Key of the charge at the provider.
	ChargeKey        string
	ProviderChargeID string
	DeclineReason    string
	// FailureReason says why the provider refused a charge (Failed) or the
	// last refund (then the status is back to Succeeded).
	FailureReason string
	// RefundKey is the Idempotency-Key of the refund, once one is attempted.
	RefundKey        string
	ProviderRefundID string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Charge is the provider's charge object.
type Charge struct {
	ID            string
	Declined      bool
	DeclineReason string
}

// Refund is the provider's refund object.
type Refund struct {
	ID string
}

// ErrNotFound is returned by Provider.FindCharge and FindRefund when the
// provider has nothing under the key: the request never reached it, or it
// refused it.
var ErrNotFound = errors.New("provider has nothing under that idempotency key")

// ErrProviderDown marks a provider error where the request was not sent
// because the provider failed repeatedly and calls to it are suspended for a
// while (the circuit breaker is open).
var ErrProviderDown = errors.New("payment provider is failing; calls to it are suspended for a while")

// RejectedError is a provider's refusal of a request for a reason other
// than the card (a 4xx such as a validation error): nothing was done, and
// repeating the same request would be refused again.
type RejectedError struct {
	Status int    // the provider's HTTP status
	Reason string // the provider's explanation
}

// Error implements error.
func (e *RejectedError) Error() string {
	return fmt.Sprintf("provider refused the request (%d): %s", e.Status, e.Reason)
}

// Provider is the external payment provider, as the payment service needs
// it. Every method may fail with an error whose outcome is unknown (no
// answer, a 5xx, ErrProviderDown); Charge and Refund may also fail with a
// *RejectedError, which means nothing was done.
type Provider interface {
	// Charge takes amount from the payment method token. The same
	// idempotencyKey always yields the same charge at the provider. A decline
	// is a Charge with Declined set, not an error.
	Charge(ctx context.Context, idempotencyKey string, amount Money, token string) (Charge, error)
	// FindCharge returns the charge made with idempotencyKey, declined or
	// not, or ErrNotFound. It never charges.
	FindCharge(ctx context.Context, idempotencyKey string) (Charge, error)
	// Refund gives back a charge in full. The same idempotencyKey always
	// yields the same refund.
	Refund(ctx context.Context, idempotencyKey, chargeID string) (Refund, error)
	// FindRefund returns the refund made with idempotencyKey, or
	// ErrNotFound. It never refunds.
	FindRefund(ctx context.Context, idempotencyKey string) (Refund, error)
}

// Store keeps payments, one per order.
type Store interface {
	// Create stores p, a new attempt, unless p.OrderID already has a
	// payment. It returns the stored payment and whether it is p.
	Create(ctx context.Context, p Payment) (Payment, bool, error)
	// Get returns the order's payment or an apperr NotFound.
	Get(ctx context.Context, orderID string) (Payment, error)
	// Update saves p over the order's payment if that is still in status
	// from: Status, ProviderChargeID, DeclineReason, FailureReason,
	// RefundKey, ProviderRefundID and UpdatedAt change; OrderID, Amount,
	// ChargeKey and CreatedAt never do. It returns an apperr Aborted if the
	// payment has moved on from `from` (a concurrent writer won), NotFound
	// if there is none.
	Update(ctx context.Context, p Payment, from Status) error
}

// Service is the payment use cases.
type Service struct {
	store    Store
	provider Provider
	now      func() time.Time
}

// Option configures a Service.
type Option func(*Service)

// WithClock makes the Service read the time from now (default time.Now);
// tests use it to make attempts look old.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// NewService returns a Service.
func NewService(store Store, provider Provider, opts ...Option) (*Service, error) {
	if store == nil || provider == nil {
		return nil, errors.New("payment: store and provider are required")
	}
	s := &Service{store: store, provider: provider, now: time.Now}
	for _, opt := range opts {
		opt(s)
	}
	if s.now == nil {
		return nil, errors.New("payment: nil clock")
	}
	return s, nil
}

// IdempotencyKey is the key sent to the provider for an order's charge:
// the same order can never produce two charges, whichever replica retries.
func IdempotencyKey(orderID string) string { return "charge-" + orderID }

// RefundKey is the key sent to the provider for an order's refund.
func RefundKey(orderID string) string { return "refund-" + orderID }

// timestamp is now as the store keeps it: UTC, microseconds.
func (s *Service) timestamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Charge takes amount for orderID. It records the attempt, then asks the
// provider; a repeat returns the recorded payment, or finishes an attempt
// whose outcome was unknown. Errors: Invalid; Conflict (another amount than
// recorded); FailedPrecondition with ReasonPaymentFailed (the provider
// refused, nothing charged) or ReasonPaymentRefunded (the payment was given
// back); Unavailable (outcome still unknown: repeat with the same order
// id). A decline is a Declined payment, not an error.
func (s *Service) Charge(ctx context.Context, orderID string, amount Money, token string) (Payment, error) {
	if orderID == "" {
		return Payment{}, apperr.New(apperr.Invalid, "order id is required")
	}
	if amount.Minor <= 0 || len(amount.Currency) != 3 {
		return Payment{}, apperr.New(apperr.Invalid, "amount must be positive with a 3-letter currency, got %d %q", amount.Minor, amount.Currency)
	}
	now := s.timestamp()
	p, created, err := s.store.Create(ctx, Payment{
		OrderID: orderID, Amount: amount, Status: Pending, ChargeKey: IdempotencyKey(orderID),
		CreatedAt: now, UpdatedAt: now,
	})
	if err != nil {
		return Payment{}, fmt.Errorf("record payment attempt: %w", err)
	}
	if p.Amount != amount {
		return Payment{}, apperr.New(apperr.Conflict, "order %s was charged %d %s, not %d %s", orderID, p.Amount.Minor, p.Amount.Currency, amount.Minor, amount.Currency)
	}
	if !created {
		switch p.Status {
		case Pending:
			// An earlier attempt (a crash, a timeout, another replica right
			// now) may have charged: ask before charging.
			ch, err := s.findCharge(ctx, p.ChargeKey)
			switch {
			case err == nil:
				return s.settleCharge(ctx, p, ch)
			case !errors.Is(err, ErrNotFound):
				return Payment{}, unknownOutcome(orderID, "charge", err)
			}
			// Nothing there: charge, with the same key, after recording
			// when this attempt began, so that a refund does not void it
			// while it is on its way (resolveForRefund).
			q := p
			q.UpdatedAt = s.timestamp()
			if p, err = s.update(ctx, q, Pending); err != nil {
				return Payment{}, err
			}
			if p.Status != Pending {
				return s.Charge(ctx, orderID, amount, token) // another attempt settled it meanwhile
			}
		case Failed:
			return Payment{}, failedCharge(p)
		case RefundPending, Refunded:
			// The money was given back (or is being): this order will not
			// be charged again under its id.
			return Payment{}, apperr.New(apperr.FailedPrecondition, "the payment of order %s was refunded; it is not taken again", orderID).
				WithReason(ReasonPaymentRefunded, "order_id", orderID)
		default:
			return p, nil
		}
	}

	ch, err := s.chargeProvider(ctx, p.ChargeKey, amount, token)
	if err == nil {
		return s.settleCharge(ctx, p, ch)
	}
	if errors.Is(err, deadline.ErrExhausted) {
		return Payment{}, notSent(orderID, "charge")
	}
	if rej := (*RejectedError)(nil); errors.As(err, &rej) {
		q := p
		q.Status, q.FailureReason, q.UpdatedAt = Failed, rej.Reason, s.timestamp()
		if p, err = s.update(ctx, q, Pending); err != nil {
			return Payment{}, err
		}
		if p.Status == Failed {
			return Payment{}, failedCharge(p)
		}
		return p, nil // another attempt settled it first
	}
	// Unknown outcome: the provider may have charged. Ask it by key, on a
	// budget of its own: the failed call may have used up the caller's. If
	// that fails too, the Pending record tells the next attempt to ask.
	lookupCtx, cancel := deadline.Detach(ctx, api.ProviderLookupBudget)
	defer cancel()
	ch, ferr := s.provider.FindCharge(lookupCtx, p.ChargeKey)
	if ferr == nil {
		return s.settleCharge(lookupCtx, p, ch)
	}
	return Payment{}, unknownOutcome(orderID, "charge", errors.Join(err, ferr))
}

// chargeProvider asks the provider to charge, keeping enough of ctx's
// budget for the lookup and the record that may follow (seed rule 4: the
// provider's timeout nests inside payment.Charge's budget).
func (s *Service) chargeProvider(ctx context.Context, key string, amount Money, token string) (Charge, error) {
	ctx, cancel, err := providerHop(ctx)
	if err != nil {
		return Charge{}, err
	}
	defer cancel()
	return s.provider.Charge(ctx, key, amount, token)
}

// findCharge looks a charge up by key within ProviderLookupBudget.
func (s *Service) findCharge(ctx context.Context, key string) (Charge, error) {
	ctx, cancel, err := deadline.Hop(ctx, api.ProviderLookupBudget)
	if err != nil {
		return Charge{}, err
	}
	defer cancel()
	return s.provider.FindCharge(ctx, key)
}

// providerHop is the context of one charge or refund at the provider: at
// most ProviderTimeoutMax, and never so long that the lookup after a lost
// answer and the record of the outcome no longer fit.
func providerHop(ctx context.Context) (context.Context, context.CancelFunc, error) {
	return deadline.Hop(deadline.Keep(ctx, api.ProviderLookupBudget+api.RecordBudget), api.ProviderTimeoutMax)
}

// settleCharge records the provider's charge on a Pending payment. The
// record is made on a budget of its own: what the provider did is recorded
// even when the caller has just given up.
func (s *Service) settleCharge(ctx context.Context, p Payment, ch Charge) (Payment, error) {
	ctx, cancel := deadline.Detach(ctx, api.RecordBudget)
	defer cancel()
	q := p
	q.Status, q.ProviderChargeID, q.UpdatedAt = Succeeded, ch.ID, s.timestamp()
	if ch.Declined {
		q.Status, q.DeclineReason = Declined, ch.DeclineReason
	}
	p, err := s.update(ctx, q, Pending)
	if err != nil {
		return Payment{}, err
	}
	if p.Status == Failed {
		return Payment{}, failedCharge(p)
	}
	return p, nil
}

// update saves q if the payment is still in status from and returns it;
// if a concurrent attempt moved it on first, it returns what that attempt
// stored.
func (s *Service) update(ctx context.Context, q Payment, from Status) (Payment, error) {
	p, _, err := s.updateOrReload(ctx, q, from)
	return p, err
}

// updateOrReload is update that also reports whether q was saved (true) or
// another attempt's payment is returned (false).
func (s *Service) updateOrReload(ctx context.Context, q Payment, from Status) (Payment, bool, error) {
	err := s.store.Update(ctx, q, from)
	if err == nil {
		return q, true, nil
	}
	if apperr.CodeOf(err) != apperr.Aborted {
		return Payment{}, false, fmt.Errorf("record payment: %w", err)
	}
	p, err := s.store.Get(ctx, q.OrderID)
	if err != nil {
		return Payment{}, false, fmt.Errorf("read payment after a concurrent update: %w", err)
	}
	return p, false, nil
}

// Refund gives back orderID's payment; refunding again returns the
// refunded payment. A Pending charge is resolved first; if the provider
// never charged it, it is voided (Failed) so that it never will be.
// Errors: Invalid; NotFound; FailedPrecondition with ReasonNothingToRefund
// (declined, failed or voided) or ReasonRefundFailed (the provider refused);
// Unavailable (outcome unknown: repeat).
func (s *Service) Refund(ctx context.Context, orderID string) (Payment, error) {
	p, err := s.Get(ctx, orderID)
	if err != nil {
		return Payment{}, err
	}
	// fresh: the RefundPending record is this call's own, so no earlier
	// refund attempt can exist to look up.
	fresh := false
	for {
		switch p.Status {
		case Refunded:
			return p, nil
		case Declined, Failed:
			return Payment{}, apperr.New(apperr.FailedPrecondition, "payment of order %s is %s; nothing to refund", orderID, p.Status).
				WithReason(ReasonNothingToRefund, "order_id", orderID)
		case Pending:
			if p, err = s.resolveForRefund(ctx, p); err != nil {
				return Payment{}, err
			}
		case Succeeded:
			q := p
			q.Status, q.RefundKey, q.FailureReason, q.UpdatedAt = RefundPending, RefundKey(orderID), "", s.timestamp()
			if p, fresh, err = s.updateOrReload(ctx, q, Succeeded); err != nil {
				return Payment{}, err
			}
		case RefundPending:
			return s.refund(ctx, p, fresh)
		default:
			return Payment{}, fmt.Errorf("payment of order %s has unknown status %q", orderID, p.Status)
		}
	}
}

// resolveForRefund settles a Pending charge before a refund: with the
// provider's charge if there is one, else by voiding it.
func (s *Service) resolveForRefund(ctx context.Context, p Payment) (Payment, error) {
	ch, err := s.findCharge(ctx, p.ChargeKey)
	switch {
	case err == nil:
		q := p
		q.Status, q.ProviderChargeID, q.UpdatedAt = Succeeded, ch.ID, s.timestamp()
		if ch.Declined {
			q.Status, q.DeclineReason = Declined, ch.DeclineReason
		}
		return s.update(ctx, q, Pending)
	case errors.Is(err, ErrNotFound):
		// Nothing was charged yet. A Charge call may still be on its way to
		// the provider, though, and voiding its attempt now would record
		// nothing taken while the provider takes the money: only an attempt
		// older than any Charge call can be is voided.
		if age := s.timestamp().Sub(p.UpdatedAt); age < api.ChargeBudget {
			return Payment{}, apperr.New(apperr.Unavailable,
				"a charge of order %s began %v ago and may still be on its way to the provider; repeat the refund after %v",
				p.OrderID, age.Round(time.Millisecond), (api.ChargeBudget - age).Round(time.Millisecond))
		}
		// Void the attempt, so that no later Charge takes money for an
		// order that is being given up.
		q := p
		q.Status, q.FailureReason, q.UpdatedAt = Failed, "voided: refunded before any charge was made", s.timestamp()
		return s.update(ctx, q, Pending)
	default:
		return Payment{}, unknownOutcome(p.OrderID, "charge", err)
	}
}

// refund asks the provider to refund a RefundPending payment. Unless the
// attempt is fresh, an earlier one may have reached the provider: it asks
// first.
func (s *Service) refund(ctx context.Context, p Payment, fresh bool) (Payment, error) {
	if !fresh {
		r, err := s.findRefund(ctx, p.RefundKey)
		switch {
		case err == nil:
			return s.settleRefund(ctx, p, r)
		case !errors.Is(err, ErrNotFound):
			return Payment{}, unknownOutcome(p.OrderID, "refund", err)
		}
	}
	r, err := s.refundProvider(ctx, p)
	if err == nil {
		return s.settleRefund(ctx, p, r)
	}
	if errors.Is(err, deadline.ErrExhausted) {
		return Payment{}, notSent(p.OrderID, "refund")
	}
	if rej := (*RejectedError)(nil); errors.As(err, &rej) {
		// Nothing was refunded: the money is still taken.
		q := p
		q.Status, q.FailureReason, q.UpdatedAt = Succeeded, rej.Reason, s.timestamp()
		if _, err := s.update(ctx, q, RefundPending); err != nil {
			return Payment{}, err
		}
		return Payment{}, apperr.New(apperr.FailedPrecondition, "payment provider refused the refund of order %s: %s", p.OrderID, rej.Reason).
			WithReason(ReasonRefundFailed, "order_id", p.OrderID)
	}
	// As for a charge: the lookup after a lost answer has its own budget.
	lookupCtx, cancel := deadline.Detach(ctx, api.ProviderLookupBudget)
	defer cancel()
	r, ferr := s.provider.FindRefund(lookupCtx, p.RefundKey)
	if ferr == nil {
		return s.settleRefund(lookupCtx, p, r)
	}
	return Payment{}, unknownOutcome(p.OrderID, "refund", errors.Join(err, ferr))
}

// refundProvider asks the provider to refund, keeping time for the lookup
// and the record as chargeProvider does.
func (s *Service) refundProvider(ctx context.Context, p Payment) (Refund, error) {
	ctx, cancel, err := providerHop(ctx)
	if err != nil {
		return Refund{}, err
	}
	defer cancel()
	return s.provider.Refund(ctx, p.RefundKey, p.ProviderChargeID)
}

// findRefund looks a refund up by key within ProviderLookupBudget.
func (s *Service) findRefund(ctx context.Context, key string) (Refund, error) {
	ctx, cancel, err := deadline.Hop(ctx, api.ProviderLookupBudget)
	if err != nil {
		return Refund{}, err
	}
	defer cancel()
	return s.provider.FindRefund(ctx, key)
}

// settleRefund records the provider's refund on its own budget, like
// settleCharge.
func (s *Service) settleRefund(ctx context.Context, p Payment, r Refund) (Payment, error) {
	ctx, cancel := deadline.Detach(ctx, api.RecordBudget)
	defer cancel()
	q := p
	q.Status, q.ProviderRefundID, q.UpdatedAt = Refunded, r.ID, s.timestamp()
	return s.update(ctx, q, RefundPending)
}

// Get returns orderID's payment.
func (s *Service) Get(ctx context.Context, orderID string) (Payment, error) {
	if orderID == "" {
		return Payment{}, apperr.New(apperr.Invalid, "order id is required")
	}
	return s.store.Get(ctx, orderID)
}

// failedCharge is the error for a payment the provider refused.
func failedCharge(p Payment) error {
	return apperr.New(apperr.FailedPrecondition, "payment provider refused the charge of order %s: %s", p.OrderID, p.FailureReason).
		WithReason(ReasonPaymentFailed, "order_id", p.OrderID)
}

// notSent is the error for an attempt that was not sent to the provider
// because too little of the call's budget was left: nothing happened, and
// a repeat with more time will send it.
func notSent(orderID, what string) error {
	return apperr.New(apperr.Timeout, "too little of the deadline was left to ask the payment provider; the %s of order %s was not sent", what, orderID)
}

// unknownOutcome is the error for an attempt whose outcome the provider
// could not tell: the record stays pending and a repeat resolves it.
func unknownOutcome(orderID, what string, cause error) error {
	msg := "payment provider did not answer; the %s of order %s is unresolved: repeat with the same order id"
	if errors.Is(cause, ErrProviderDown) {
		msg = "payment provider is failing and calls to it are suspended (circuit open); the %s of order %s is unresolved: repeat later with the same order id"
	}
	return apperr.New(apperr.Unavailable, msg, what, orderID).WithCause(cause)
}
