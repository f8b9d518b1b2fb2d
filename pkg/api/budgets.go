package api

import (
	"time"

	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"
	paymentv1 "github.com/shopmesh/shopmesh/pkg/api/payment/v1"
)

// The parts the budgets below are made of. A service that spends time on
// one of these inside a call keeps it out of the hops it makes
// (platform/deadline.Keep), so its own later steps still fit.
const (
	// RecordBudget bounds one write to a service's own database between
	// the steps of a call: creating an order, recording a saga step,
	// recording a payment attempt or its outcome.
	RecordBudget = 500 * time.Millisecond
	// AnswerBudget is what a caller keeps after its last call to send its
	// own answer: the gateway around PlaceOrder, order while it waits for
	// the saga.
	AnswerBudget = 100 * time.Millisecond
	// ReadBudget bounds a call that only reads one service's database.
	ReadBudget = time.Second
	// StockBudget bounds a stock movement in inventory: Reserve, Commit,
	// Release, SetStock, CreateProduct (a locked read and a write).
	StockBudget = time.Second
	// ProviderLookupBudget bounds payment's lookup, by idempotency key, of a
	// charge or refund whose first answer was lost. It runs on a budget of
	// its own: the call that lost the answer may have used all of its own.
	ProviderLookupBudget = time.Second
	// ProviderTimeoutMax is the most the payment provider's client may take
	// for one charge or refund, retries included (PSP_TIMEOUT): what
	// ChargeBudget holds once payment's two records and the lookup are kept.
	ProviderTimeoutMax = ChargeBudget - 2*RecordBudget - ProviderLookupBudget
	// ChargeBudget bounds payment.Charge and payment.Refund: record the
	// attempt, call the provider, look the outcome up if its answer was
	// lost, record the outcome.
	ChargeBudget = 5 * time.Second
	// PlaceOrderBudget bounds order.PlaceOrder, sized for the whole saga:
	// create the order, reserve, record, charge, record, commit, record.
	// An order that cannot finish inside it is answered PENDING (HTTP 202)
	// and finished in the background.
	PlaceOrderBudget = 2*StockBudget + ChargeBudget + 4*RecordBudget
	// CancelOrderBudget bounds order.CancelOrder and order.CompensateOrder:
	// read the order, record the cancellation, refund, record, release,
	// record.
	CancelOrderBudget = ReadBudget + ChargeBudget + StockBudget + 3*RecordBudget
	// RetryOrderBudget bounds order.RetryOrder: read the parked order and
	// record it taken up again; its saga goes on in the background.
	RetryOrderBudget = ReadBudget + RecordBudget
)

// Budgets is each method's cap: the most time one call may take, the
// callee's whole work included (DESIGN.md, seed rule 4: budgets nest). A
// caller gives a call the smaller of its cap and what the caller has left
// minus what it keeps for its own later steps (grpcx does this for every
// call); a callee gives a call that arrives without a deadline its cap, and
// never more. docs/deadlines.md explains each row.
//
// A method added to the API needs a row here; a test fails until it has one.
var Budgets = map[string]time.Duration{
	inventoryv1.InventoryService_ListProducts_FullMethodName:  ReadBudget,
	inventoryv1.InventoryService_GetProduct_FullMethodName:    ReadBudget,
	inventoryv1.InventoryService_Reserve_FullMethodName:       StockBudget,
	inventoryv1.InventoryService_Commit_FullMethodName:        StockBudget,
	inventoryv1.InventoryService_Release_FullMethodName:       StockBudget,
	inventoryv1.InventoryService_CreateProduct_FullMethodName: StockBudget,
	inventoryv1.InventoryService_SetStock_FullMethodName:      StockBudget,

	paymentv1.PaymentService_Charge_FullMethodName:     ChargeBudget,
	paymentv1.PaymentService_Refund_FullMethodName:     ChargeBudget,
	paymentv1.PaymentService_GetPayment_FullMethodName: ReadBudget,

	orderv1.OrderService_PlaceOrder_FullMethodName:  PlaceOrderBudget,
	orderv1.OrderService_GetOrder_FullMethodName:    ReadBudget,
	orderv1.OrderService_ListOrders_FullMethodName:  ReadBudget,
	orderv1.OrderService_CancelOrder_FullMethodName: CancelOrderBudget,

	orderv1.OrderService_ListParkedOrders_FullMethodName: ReadBudget,
	orderv1.OrderService_RetryOrder_FullMethodName:       RetryOrderBudget,
	orderv1.OrderService_CompensateOrder_FullMethodName:  CancelOrderBudget,
}

// Outside names the methods whose time is mostly spent waiting on a system
// outside shopmesh: payment's calls wait on the payment provider. A caller
// that counts its peers' work against its own concurrency limit (order, for
// its sagas) gives its permit back while it waits on these, so a slow
// provider fills no limit and makes nobody shed (platform/overload).
var Outside = map[string]bool{
	paymentv1.PaymentService_Charge_FullMethodName: true,
	paymentv1.PaymentService_Refund_FullMethodName: true,
}
