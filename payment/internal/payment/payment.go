// Package payment is the payment domain: one payment per order, taken from
// the external provider with an idempotency key derived from the order id,
// so that no retry can charge an order twice.
package payment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// Money is an amount in integer minor units with its ISO 4217 currency.
type Money struct {
	Currency string
	Minor    int64
}

// Status is the outcome of a payment.
type Status int

// Payment statuses.
const (
	Succeeded Status = iota + 1
	Declined
	Refunded
)

// Payment is the record of one order's charge.
type Payment struct {
	OrderID          string
	Amount           Money
	Status           Status
	ProviderChargeID string
	DeclineReason    string
	CreatedAt        time.Time
}

// Charge is the provider's answer to a charge request.
type Charge struct {
	ID            string
	Declined      bool
	DeclineReason string
}

// Provider is the external payment provider, as the payment service needs it.
type Provider interface {
	// Charge takes amount from the payment method token. The same
	// idempotencyKey always yields the same charge at the provider. A decline
	// is a Charge with Declined set, not an error; an error means the outcome
	// is unknown.
	Charge(ctx context.Context, idempotencyKey string, amount Money, token string) (Charge, error)
	// Refund gives back a charge in full; repeating it is harmless.
	Refund(ctx context.Context, idempotencyKey, chargeID string) error
}

// Store keeps payments, one per order.
type Store interface {
	// Get returns the order's payment or an apperr NotFound.
	Get(ctx context.Context, orderID string) (Payment, error)
	// Put saves the order's payment, replacing any earlier version.
	Put(ctx context.Context, p Payment) error
}

// Service is the payment use cases.
type Service struct {
	store    Store
	provider Provider
	now      func() time.Time
}

// NewService returns a Service.
func NewService(store Store, provider Provider) (*Service, error) {
	if store == nil || provider == nil {
		return nil, errors.New("payment: store and provider are required")
	}
	return &Service{store: store, provider: provider, now: time.Now}, nil
}

// IdempotencyKey is the key sent to the provider for an order's charge:
// the same order can never produce two charges, whichever replica retries.
func IdempotencyKey(orderID string) string { return "charge-" + orderID }

// Charge takes amount for orderID. A repeat returns the recorded payment.
func (s *Service) Charge(ctx context.Context, orderID string, amount Money, token string) (Payment, error) {
	if orderID == "" {
		return Payment{}, apperr.New(apperr.Invalid, "order id is required")
	}
	if amount.Minor <= 0 || len(amount.Currency) != 3 {
		return Payment{}, apperr.New(apperr.Invalid, "amount must be positive with a 3-letter currency, got %d %q", amount.Minor, amount.Currency)
	}
	if p, err := s.store.Get(ctx, orderID); err == nil {
		if p.Amount != amount {
			return Payment{}, apperr.New(apperr.Conflict, "order %s was charged %d %s, not %d %s", orderID, p.Amount.Minor, p.Amount.Currency, amount.Minor, amount.Currency)
		}
		return p, nil
	} else if apperr.CodeOf(err) != apperr.NotFound {
		return Payment{}, fmt.Errorf("look up payment: %w", err)
	}
	ch, err := s.provider.Charge(ctx, IdempotencyKey(orderID), amount, token)
	if err != nil {
		// Unknown outcome: nothing is recorded, so a retry asks the provider
		// again with the same key and gets the same charge back.
		return Payment{}, apperr.New(apperr.Unavailable, "payment provider did not answer; the charge may be retried").WithCause(err)
	}
	p := Payment{OrderID: orderID, Amount: amount, Status: Succeeded, ProviderChargeID: ch.ID, CreatedAt: s.now().UTC()}
	if ch.Declined {
		p.Status, p.DeclineReason = Declined, ch.DeclineReason
	}
	if err := s.store.Put(ctx, p); err != nil {
		return Payment{}, fmt.Errorf("record payment: %w", err)
	}
	return p, nil
}

// Refund gives back orderID's succeeded payment; refunding again returns
// the refunded payment.
func (s *Service) Refund(ctx context.Context, orderID string) (Payment, error) {
	p, err := s.Get(ctx, orderID)
	if err != nil {
		return Payment{}, err
	}
	switch p.Status {
	case Refunded:
		return p, nil
	case Declined:
		return Payment{}, apperr.New(apperr.FailedPrecondition, "payment of order %s was declined; nothing to refund", orderID)
	}
	if err := s.provider.Refund(ctx, "refund-"+orderID, p.ProviderChargeID); err != nil {
		return Payment{}, apperr.New(apperr.Unavailable, "payment provider did not answer; the refund may be retried").WithCause(err)
	}
	p.Status = Refunded
	if err := s.store.Put(ctx, p); err != nil {
		return Payment{}, fmt.Errorf("record refund: %w", err)
	}
	return p, nil
}

// Get returns orderID's payment.
func (s *Service) Get(ctx context.Context, orderID string) (Payment, error) {
	if orderID == "" {
		return Payment{}, apperr.New(apperr.Invalid, "order id is required")
	}
	return s.store.Get(ctx, orderID)
}
