// Package grpcapi is payment's gRPC transport: proto ⇄ domain only.
package grpcapi

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shopmesh/shopmesh/pkg/api"
	moneyv1 "github.com/shopmesh/shopmesh/pkg/api/money/v1"
	paymentv1 "github.com/shopmesh/shopmesh/pkg/api/payment/v1"

	"github.com/shopmesh/shopmesh/payment/internal/payment"
)

// AllowedCallers says who may call each method: only order calls payment;
// nothing else moves or reads money (the gateway shows an order's payment
// from the order).
var AllowedCallers = map[string][]string{
	api.PaymentCharge:     {"order"},
	api.PaymentRefund:     {"order"},
	api.PaymentGetPayment: {"order"},
}

// Server implements paymentv1.PaymentServiceServer.
type Server struct {
	paymentv1.UnimplementedPaymentServiceServer
	svc *payment.Service
}

var _ paymentv1.PaymentServiceServer = (*Server)(nil)

// New returns a Server over svc.
func New(svc *payment.Service) *Server { return &Server{svc: svc} }

// Charge implements paymentv1.PaymentServiceServer.
func (s *Server) Charge(ctx context.Context, req *paymentv1.ChargeRequest) (*paymentv1.ChargeResponse, error) {
	amount := payment.Money{Currency: req.GetAmount().GetCurrencyCode(), Minor: req.GetAmount().GetMinorUnits()}
	p, err := s.svc.Charge(ctx, req.GetOrderId(), amount, req.GetPaymentToken())
	if err != nil {
		return nil, err
	}
	return &paymentv1.ChargeResponse{Payment: toProto(p)}, nil
}

// Refund implements paymentv1.PaymentServiceServer.
func (s *Server) Refund(ctx context.Context, req *paymentv1.RefundRequest) (*paymentv1.RefundResponse, error) {
	p, err := s.svc.Refund(ctx, req.GetOrderId())
	if err != nil {
		return nil, err
	}
	return &paymentv1.RefundResponse{Payment: toProto(p)}, nil
}

// GetPayment implements paymentv1.PaymentServiceServer.
func (s *Server) GetPayment(ctx context.Context, req *paymentv1.GetPaymentRequest) (*paymentv1.GetPaymentResponse, error) {
	p, err := s.svc.Get(ctx, req.GetOrderId())
	if err != nil {
		return nil, err
	}
	return &paymentv1.GetPaymentResponse{Payment: toProto(p)}, nil
}

func toProto(p payment.Payment) *paymentv1.Payment {
	return &paymentv1.Payment{
		OrderId:          p.OrderID,
		Amount:           &moneyv1.Money{CurrencyCode: p.Amount.Currency, MinorUnits: p.Amount.Minor},
		Status:           statusToProto(p.Status),
		ProviderChargeId: p.ProviderChargeID,
		DeclineReason:    p.DeclineReason,
		CreatedAt:        timestamppb.New(p.CreatedAt),
	}
}

// statusToProto maps the domain's status onto the API's. The API has no
// PENDING or FAILED yet: Charge never returns such a payment (it returns
// Unavailable or FailedPrecondition instead), and GetPayment shows them as
// UNSPECIFIED. A refund in progress still has the money taken: SUCCEEDED.
func statusToProto(s payment.Status) paymentv1.PaymentStatus {
	switch s {
	case payment.Pending:
		return paymentv1.PaymentStatus_PAYMENT_STATUS_PENDING
	case payment.Succeeded:
		return paymentv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED
	case payment.Declined:
		return paymentv1.PaymentStatus_PAYMENT_STATUS_DECLINED
	case payment.Failed:
		return paymentv1.PaymentStatus_PAYMENT_STATUS_FAILED
	case payment.RefundPending:
		return paymentv1.PaymentStatus_PAYMENT_STATUS_REFUND_PENDING
	case payment.Refunded:
		return paymentv1.PaymentStatus_PAYMENT_STATUS_REFUNDED
	}
	return paymentv1.PaymentStatus_PAYMENT_STATUS_UNSPECIFIED
}
