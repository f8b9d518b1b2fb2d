// Package paymentclient adapts the payment gRPC API to the order domain's
// Payment port.
package paymentclient

import (
	"context"

	moneyv1 "github.com/shopmesh/shopmesh/pkg/api/money/v1"
	paymentv1 "github.com/shopmesh/shopmesh/pkg/api/payment/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"

	"github.com/shopmesh/shopmesh/order/internal/order"
)

// Client implements order.Payment over gRPC.
type Client struct {
	api paymentv1.PaymentServiceClient
}

var _ order.Payment = (*Client)(nil)

// New returns a Client over api (built on the shared connection to payment).
func New(api paymentv1.PaymentServiceClient) *Client { return &Client{api: api} }

// Charge implements order.Payment.
func (c *Client) Charge(ctx context.Context, orderID string, amount order.Money, token string) (order.ChargeResult, error) {
	resp, err := c.api.Charge(ctx, &paymentv1.ChargeRequest{
		OrderId:      orderID,
		Amount:       &moneyv1.Money{CurrencyCode: amount.Currency, MinorUnits: amount.Minor},
		PaymentToken: token,
	})
	if err != nil {
		return order.ChargeResult{}, grpcx.FromStatus(err)
	}
	p := resp.GetPayment()
	switch p.GetStatus() {
	case paymentv1.PaymentStatus_PAYMENT_STATUS_DECLINED:
		return order.ChargeResult{Declined: true, DeclineReason: p.GetDeclineReason()}, nil
	case paymentv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED:
		return order.ChargeResult{}, nil
	}
	return order.ChargeResult{}, apperr.New(apperr.FailedPrecondition, "payment of order %s is %s", orderID, p.GetStatus())
}

// Refund implements order.Payment.
func (c *Client) Refund(ctx context.Context, orderID string) error {
	_, err := c.api.Refund(ctx, &paymentv1.RefundRequest{OrderId: orderID})
	return grpcx.FromStatus(err)
}
