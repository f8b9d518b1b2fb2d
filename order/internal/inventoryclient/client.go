// Package inventoryclient adapts the inventory gRPC API to the order
// domain's Inventory port.
package inventoryclient

import (
	"context"

	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"

	"github.com/shopmesh/shopmesh/order/internal/order"
)

// Client implements order.Inventory over gRPC.
type Client struct {
	api inventoryv1.InventoryServiceClient
}

var _ order.Inventory = (*Client)(nil)

// New returns a Client over api (built on the shared connection to inventory).
func New(api inventoryv1.InventoryServiceClient) *Client { return &Client{api: api} }

// Reserve implements order.Inventory.
func (c *Client) Reserve(ctx context.Context, orderID string, items []order.Item) (order.Reservation, error) {
	req := &inventoryv1.ReserveRequest{OrderId: orderID}
	for _, it := range items {
		req.Items = append(req.Items, &inventoryv1.Item{ProductId: it.ProductID, Quantity: it.Quantity})
	}
	resp, err := c.api.Reserve(ctx, req)
	if err != nil {
		return order.Reservation{}, grpcx.FromStatus(err)
	}
	switch resp.GetState() {
	case inventoryv1.ReservationState_RESERVATION_STATE_RESERVED, inventoryv1.ReservationState_RESERVATION_STATE_COMMITTED:
	case inventoryv1.ReservationState_RESERVATION_STATE_RELEASED:
		// A repeat for an order whose reservation ran out: its stock went
		// back, and inventory will not hold it again under this order id.
		return order.Reservation{}, apperr.New(apperr.FailedPrecondition, "reservation of order %s was released", orderID).
			WithReason(order.ReasonReservationExpired, "order_id", orderID)
	default:
		// Not an answer Reserve gives; the saga retries rather than guess.
		return order.Reservation{}, apperr.New(apperr.Internal, "inventory answered Reserve of order %s with state %s", orderID, resp.GetState())
	}
	res := order.Reservation{Total: order.Money{Currency: resp.GetTotal().GetCurrencyCode(), Minor: resp.GetTotal().GetMinorUnits()}}
	for _, l := range resp.GetLines() {
		res.Lines = append(res.Lines, order.Line{
			ProductID: l.GetProductId(), Quantity: l.GetQuantity(),
			UnitPrice: order.Money{Currency: l.GetUnitPrice().GetCurrencyCode(), Minor: l.GetUnitPrice().GetMinorUnits()},
		})
	}
	return res, nil
}

// Commit implements order.Inventory.
func (c *Client) Commit(ctx context.Context, orderID string) error {
	_, err := c.api.Commit(ctx, &inventoryv1.CommitRequest{OrderId: orderID})
	return grpcx.FromStatus(err)
}

// Release implements order.Inventory.
func (c *Client) Release(ctx context.Context, orderID string) error {
	_, err := c.api.Release(ctx, &inventoryv1.ReleaseRequest{OrderId: orderID})
	return grpcx.FromStatus(err)
}
