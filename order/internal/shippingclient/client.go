// Package shippingclient adapts the shipping gRPC API to the order
// domain's Shipping port.
package shippingclient

import (
	"context"

	shippingv1 "github.com/shopmesh/shopmesh/pkg/api/shipping/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"

	"github.com/shopmesh/shopmesh/order/internal/order"
)

// Client implements order.Shipping over gRPC.
type Client struct {
	api shippingv1.ShippingServiceClient
}

var _ order.Shipping = (*Client)(nil)

// New returns a Client over api (built on the shared connection to
// shipping).
func New(api shippingv1.ShippingServiceClient) *Client { return &Client{api: api} }

// Ship implements order.Shipping: the order's items go to the customer.
func (c *Client) Ship(ctx context.Context, o order.Order) error {
	items := make([]*shippingv1.Item, len(o.Items))
	for i, it := range o.Items {
		items[i] = &shippingv1.Item{ProductId: it.ProductID, Quantity: it.Quantity}
	}
	_, err := c.api.CreateShipment(ctx, &shippingv1.CreateShipmentRequest{OrderId: o.ID, CustomerId: o.CustomerID, Items: items})
	return grpcx.FromStatus(err)
}

// CancelShipment implements order.Shipping.
func (c *Client) CancelShipment(ctx context.Context, orderID string) error {
	_, err := c.api.CancelShipment(ctx, &shippingv1.CancelShipmentRequest{OrderId: orderID})
	return grpcx.FromStatus(err)
}
