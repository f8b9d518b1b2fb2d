package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/shopmesh/shopmesh/pkg/api"
	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	moneyv1 "github.com/shopmesh/shopmesh/pkg/api/money/v1"
	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/deadline"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
)

// idPattern bounds path ids and keys to what our services issue.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Money is an amount in minor units with its currency.
type Money struct {
	Currency    string `json:"currency"`
	AmountMinor int64  `json:"amount_minor"`
}

// Product is the JSON form of a catalog entry.
type Product struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Price     Money  `json:"price"`
	Available int64  `json:"available"`
}

// OrderItem is one line of an order request.
type OrderItem struct {
	ProductID string `json:"product_id"`
	Quantity  int32  `json:"quantity"`
}

// PlaceOrderRequest is the body of POST /v1/orders.
type PlaceOrderRequest struct {
	Items        []OrderItem `json:"items"`
	PaymentToken string      `json:"payment_token"`
}

// OrderLine is a priced line of an order.
type OrderLine struct {
	ProductID string `json:"product_id"`
	Quantity  int32  `json:"quantity"`
	UnitPrice Money  `json:"unit_price"`
}

// Order is the JSON form of an order.
type Order struct {
	ID         string      `json:"id"`
	CustomerID string      `json:"customer_id"`
	Status     string      `json:"status"`
	Lines      []OrderLine `json:"lines"`
	Total      Money       `json:"total"`
	CreatedAt  time.Time   `json:"created_at"`
	UpdatedAt  time.Time   `json:"updated_at"`
	// Reason says why an order ended as it did (OUT_OF_STOCK,
	// PAYMENT_DECLINED, PAYMENT_FAILED, RESERVATION_EXPIRED, COMPENSATED…).
	Reason string `json:"reason,omitempty"`
	// Attention says why a NEEDS_ATTENTION order was parked; operators
	// see it in the admin list only.
	Attention string `json:"attention,omitempty"`
	// TraceID is the trace of the request that placed the order:
	// `make trace ID=<trace_id>` draws its spans.
	TraceID string `json:"trace_id,omitempty"`
}

func (a *API) listProducts(c *gin.Context) {
	size, err := pageSize(c, api.ProductsPage)
	if err != nil {
		abortProblem(c, http.StatusBadRequest, "invalid_argument", err.Error())
		return
	}
	resp, err := a.inventory.ListProducts(c.Request.Context(), &inventoryv1.ListProductsRequest{PageSize: size, PageToken: c.Query("page_token")})
	if err != nil {
		writeProblem(c, err)
		return
	}
	out := make([]Product, 0, len(resp.GetProducts()))
	for _, p := range resp.GetProducts() {
		out = append(out, productJSON(p))
	}
	c.JSON(http.StatusOK, gin.H{"products": out, "next_page_token": resp.GetNextPageToken()})
}

func (a *API) getProduct(c *gin.Context) {
	id, ok := pathID(c)
	if !ok {
		return
	}
	resp, err := a.inventory.GetProduct(c.Request.Context(), &inventoryv1.GetProductRequest{Id: id})
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, productJSON(resp.GetProduct()))
}

func (a *API) placeOrder(c *gin.Context) {
	// While order refuses orders for overload, refuse here first, before
	// spending anything on this one.
	if !a.cfg.Throttle.Allow() {
		abortOverloaded(c)
		return
	}
	customer := customerID(c)
	key := c.GetHeader("Idempotency-Key")
	if !idPattern.MatchString(key) {
		abortProblem(c, http.StatusBadRequest, "invalid_argument", "Idempotency-Key header is required: 1-64 letters, digits, '-' or '_'")
		return
	}
	var req PlaceOrderRequest
	if err := decodeStrict(c.Request.Body, &req); err != nil {
		abortProblem(c, http.StatusBadRequest, "invalid_argument", err.Error())
		return
	}
	if errs := req.validate(); len(errs) > 0 {
		abortValidation(c, errs)
		return
	}
	pb := &orderv1.PlaceOrderRequest{CustomerId: customer, IdempotencyKey: key, PaymentToken: req.PaymentToken}
	for _, it := range req.Items {
		pb.Items = append(pb.Items, &orderv1.LineItem{ProductId: it.ProductID, Quantity: it.Quantity})
	}
	// Keep time to answer: order answers PENDING before this budget ends
	// rather than letting it run out (seed rule 4).
	resp, err := a.orders.PlaceOrder(deadline.Keep(c.Request.Context(), api.AnswerBudget), pb)
	a.cfg.Throttle.Observe(grpcx.FromStatus(err))
	if err != nil {
		writeProblem(c, outcome(err))
		return
	}
	o := resp.GetOrder()
	switch {
	case underWay(o):
		// Recorded, and finished in the background (or by an operator,
		// once parked): 202, and where to watch it end. A repeat of the key
		// answers the same way.
		accepted(c, o)
	case resp.GetReplayed():
		// A repeat of the same key and body returns the order it created:
		// 200, not 201, so the client can tell a replay from a new order.
		c.JSON(http.StatusOK, orderJSON(o))
	default:
		c.JSON(http.StatusCreated, orderJSON(o))
	}
}

func (a *API) listOrders(c *gin.Context) {
	customer := customerID(c)
	size, err := pageSize(c, api.OrdersPage)
	if err != nil {
		abortProblem(c, http.StatusBadRequest, "invalid_argument", err.Error())
		return
	}
	resp, err := a.orders.ListOrders(c.Request.Context(), &orderv1.ListOrdersRequest{CustomerId: customer, PageSize: size, PageToken: c.Query("page_token")})
	if err != nil {
		writeProblem(c, err)
		return
	}
	out := make([]Order, 0, len(resp.GetOrders()))
	for _, o := range resp.GetOrders() {
		out = append(out, orderJSON(o))
	}
	c.JSON(http.StatusOK, gin.H{"orders": out, "next_page_token": resp.GetNextPageToken()})
}

func (a *API) getOrder(c *gin.Context) {
	o, ok := a.ownOrder(c)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, orderJSON(o))
}

func (a *API) cancelOrder(c *gin.Context) {
	o, ok := a.ownOrder(c)
	if !ok {
		return
	}
	resp, err := a.orders.CancelOrder(c.Request.Context(), &orderv1.CancelOrderRequest{Id: o.GetId()})
	if err != nil {
		writeProblem(c, outcome(err))
		return
	}
	if underWay(resp.GetOrder()) {
		// CANCELLING: the refund or the restock goes on in the background.
		accepted(c, resp.GetOrder())
		return
	}
	c.JSON(http.StatusOK, orderJSON(resp.GetOrder()))
}

// underWay reports whether o is not settled yet: a placement or a
// cancellation under way, or parked for an operator.
func underWay(o *orderv1.Order) bool {
	switch o.GetStatus() {
	case orderv1.OrderStatus_ORDER_STATUS_PENDING, orderv1.OrderStatus_ORDER_STATUS_CANCELLING,
		orderv1.OrderStatus_ORDER_STATUS_NEEDS_ATTENTION:
		return true
	}
	return false
}

// accepted answers 202 with the order, where to watch it and when to look.
func accepted(c *gin.Context, o *orderv1.Order) {
	c.Header("Location", "/v1/orders/"+o.GetId())
	c.Header("Retry-After", retryAfterSeconds)
	c.JSON(http.StatusAccepted, orderJSON(o))
}

// ownOrder loads the order in the path and answers 404 when it belongs to
// someone else, so other customers' order ids cannot even be probed.
func (a *API) ownOrder(c *gin.Context) (*orderv1.Order, bool) {
	customer := customerID(c)
	id, ok := pathID(c)
	if !ok {
		return nil, false
	}
	resp, err := a.orders.GetOrder(c.Request.Context(), &orderv1.GetOrderRequest{Id: id})
	if err != nil {
		writeProblem(c, err)
		return nil, false
	}
	if resp.GetOrder().GetCustomerId() != customer {
		abortProblem(c, http.StatusNotFound, "not_found", fmt.Sprintf("order %s not found", id))
		return nil, false
	}
	return resp.GetOrder(), true
}

func pathID(c *gin.Context) (string, bool) {
	id := c.Param("id")
	if !idPattern.MatchString(id) {
		abortProblem(c, http.StatusBadRequest, "invalid_argument", "malformed id in path")
		return "", false
	}
	return id, true
}

// pageSize reads the page_size query parameter within the listing's
// bounds; absent, it is 0 and the callee serves its default.
func pageSize(c *gin.Context, bounds api.PageSizes) (int32, error) {
	s := c.Query("page_size")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 1 || n > int64(bounds.Max) {
		return 0, fmt.Errorf("page_size must be an integer from 1 to %d", bounds.Max)
	}
	return int32(n), nil
}

// decodeStrict decodes exactly one JSON value with no unknown fields.
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fmt.Errorf("body larger than %d bytes", tooBig.Limit)
		}
		return fmt.Errorf("invalid JSON body: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("invalid JSON body: trailing data after the object")
	}
	return nil
}

func moneyJSON(m *moneyv1.Money) Money {
	return Money{Currency: m.GetCurrencyCode(), AmountMinor: m.GetMinorUnits()}
}

func productJSON(p *inventoryv1.Product) Product {
	return Product{ID: p.GetId(), Name: p.GetName(), Price: moneyJSON(p.GetPrice()), Available: p.GetAvailable()}
}

func orderJSON(o *orderv1.Order) Order {
	out := Order{
		ID: o.GetId(), CustomerID: o.GetCustomerId(), Status: statusJSON(o.GetStatus()),
		Lines: []OrderLine{}, Total: moneyJSON(o.GetTotal()),
		CreatedAt: o.GetCreatedAt().AsTime(), UpdatedAt: o.GetUpdatedAt().AsTime(),
		Reason: o.GetReason(), TraceID: o.GetTraceId(),
	}
	for _, l := range o.GetLines() {
		out.Lines = append(out.Lines, OrderLine{ProductID: l.GetProductId(), Quantity: l.GetQuantity(), UnitPrice: moneyJSON(l.GetUnitPrice())})
	}
	return out
}

// statusJSON drops the enum's "ORDER_STATUS_" prefix: "CONFIRMED".
func statusJSON(s orderv1.OrderStatus) string {
	return string(bytes.TrimPrefix([]byte(s.String()), []byte("ORDER_STATUS_")))
}
