package order

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// DefaultShippingInterval is how often the shipping relay runs a Pass
// (SHIPPING_RELAY_INTERVAL).
const DefaultShippingInterval = 2 * time.Second

// shippingBatch bounds the orders one Pass tells shipping of.
const shippingBatch = 100

// Shipping is the part of the shipping service order tells of its orders.
// Both calls are idempotent by order id, and a cancellation wins over a
// shipment that arrives after it, so they may be repeated and reordered.
type Shipping interface {
	Ship(ctx context.Context, o Order) error
	CancelShipment(ctx context.Context, orderID string) error
}

// ShippingRelay tells the shipping service of each order that was
// confirmed, and of each that was cancelled, after the fact: the saga
// records the order's status, and the relay reads the orders shipping has
// not been told of from the store and tells it (a transactional outbox,
// with the orders table as the outbox). An order's checkout never waits on
// shipping, and a shipping outage delays shipments without losing one:
// what was not told is told on a later pass. Safe with several replicas:
// two may tell shipping of one order at once, which it takes as one.
type ShippingRelay struct {
	store    Store
	shipping Shipping
	logger   *slog.Logger
}

// NewShippingRelay returns a relay from store to shipping.
func NewShippingRelay(store Store, shipping Shipping, logger *slog.Logger) (*ShippingRelay, error) {
	if store == nil || shipping == nil || logger == nil {
		return nil, errors.New("order: NewShippingRelay needs a store, a shipping client and a logger")
	}
	return &ShippingRelay{store: store, shipping: shipping, logger: logger}, nil
}

// Pass tells shipping of up to a batch of orders it has not been told of,
// oldest first, records the ones it told in one write, and reports how
// many it told. An order whose call fails is left for the next pass, and a
// pass that finds shipping unavailable ends there; only a store failure
// ends it with an error (what it told is told again on the next pass,
// which shipping takes as one).
func (r *ShippingRelay) Pass(ctx context.Context) (int, error) {
	untold, err := r.store.ListUntold(ctx, shippingBatch)
	if err != nil {
		return 0, fmt.Errorf("list orders shipping was not told of: %w", err)
	}
	told := r.tell(ctx, untold)
	if err := r.store.MarkTold(ctx, told); err != nil {
		return 0, fmt.Errorf("record that shipping was told of %d orders: %w", len(told), err)
	}
	return len(told), ctx.Err()
}

// tell tells shipping of each order in turn until ctx ends or shipping is
// unavailable, and returns the orders it told.
func (r *ShippingRelay) tell(ctx context.Context, untold []Order) []Told {
	var told []Told
	for _, o := range untold {
		if ctx.Err() != nil {
			return told
		}
		var err error
		switch o.Status {
		case Confirmed:
			err = r.shipping.Ship(ctx, o)
		case Cancelled:
			err = r.shipping.CancelShipment(ctx, o.ID)
		}
		if err != nil {
			r.logger.WarnContext(ctx, "telling shipping failed; the next pass retries", "order_id", o.ID, "status", o.Status.String(), "err", err)
			if code := apperr.CodeOf(err); code == apperr.Unavailable || code == apperr.Timeout {
				// Shipping is down or overloaded: the rest of the batch
				// would fail alike, one warning each.
				return told
			}
			continue
		}
		told = append(told, Told{ID: o.ID, Status: o.Status})
	}
	return told
}
