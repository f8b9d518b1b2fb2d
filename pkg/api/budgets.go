package api

import "time"

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
	// ShipmentBudget bounds a shipment's change in shipping: CreateShipment
	// and CancelShipment (a locked read and a write).
	ShipmentBudget = time.Second
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
	InventoryListProducts:  ReadBudget,
	InventoryGetProduct:    ReadBudget,
	InventoryReserve:       StockBudget,
	InventoryCommit:        StockBudget,
	InventoryRelease:       StockBudget,
	InventoryCreateProduct: StockBudget,
	InventorySetStock:      StockBudget,

	PaymentCharge:     ChargeBudget,
	PaymentRefund:     ChargeBudget,
	PaymentGetPayment: ReadBudget,

	OrderPlaceOrder:  PlaceOrderBudget,
	OrderGetOrder:    ReadBudget,
	OrderListOrders:  ReadBudget,
	OrderCancelOrder: CancelOrderBudget,

	OrderListParkedOrders: ReadBudget,
	OrderRetryOrder:       RetryOrderBudget,
	OrderCompensateOrder:  CancelOrderBudget,

	ShippingCreateShipment: ShipmentBudget,
	ShippingCancelShipment: ShipmentBudget,
	ShippingGetShipment:    ReadBudget,
}

// Outside names the methods whose time is mostly spent waiting on a system
// outside shopmesh: payment's calls wait on the payment provider. A caller
// that counts its peers' work against its own concurrency limit (order, for
// its sagas) gives its permit back while it waits on these, so a slow
// provider fills no limit and makes nobody shed (platform/overload).
var Outside = map[string]bool{
	PaymentCharge: true,
	PaymentRefund: true,
}
