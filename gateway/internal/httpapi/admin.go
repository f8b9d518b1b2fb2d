package httpapi

import (
	"fmt"
	"net/http"
	"regexp"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/shopmesh/shopmesh/pkg/api"
	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	moneyv1 "github.com/shopmesh/shopmesh/pkg/api/money/v1"
	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"
)

var currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)

// CreateProductRequest is the body of POST /v1/admin/products.
type CreateProductRequest struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Price     Money  `json:"price"`
	Available int64  `json:"available"`
}

// SetStockRequest is the body of PUT /v1/admin/products/{id}/stock.
type SetStockRequest struct {
	// Available is a pointer so that a missing value is told apart from 0.
	Available *int64 `json:"available"`
}

func (r CreateProductRequest) validate() []FieldError {
	var errs []FieldError
	if !idPattern.MatchString(r.ID) {
		errs = append(errs, FieldError{Field: "id", Detail: idPatternFieldMsg})
	}
	if n := utf8.RuneCountInString(r.Name); n < 1 || n > api.MaxProductNameLen || !printable(r.Name) {
		errs = append(errs, FieldError{Field: "name", Detail: fmt.Sprintf("must be 1..%d printable characters", api.MaxProductNameLen)})
	}
	if !currencyPattern.MatchString(r.Price.Currency) {
		errs = append(errs, FieldError{Field: "price.currency", Detail: "must be an ISO 4217 code such as EUR"})
	}
	if r.Price.AmountMinor <= 0 {
		errs = append(errs, FieldError{Field: "price.amount_minor", Detail: "must be greater than 0"})
	}
	if r.Available < 0 || r.Available > api.MaxAvailable {
		errs = append(errs, FieldError{Field: "available", Detail: fmt.Sprintf("must be 0..%d", api.MaxAvailable)})
	}
	return errs
}

func (r SetStockRequest) validate() []FieldError {
	switch {
	case r.Available == nil:
		return []FieldError{{Field: "available", Detail: "is required"}}
	case *r.Available < 0 || *r.Available > api.MaxAvailable:
		return []FieldError{{Field: "available", Detail: fmt.Sprintf("must be 0..%d", api.MaxAvailable)}}
	}
	return nil
}

func (a *API) createProduct(c *gin.Context) {
	var req CreateProductRequest
	if err := decodeStrict(c.Request.Body, &req); err != nil {
		abortProblem(c, http.StatusBadRequest, "invalid_argument", err.Error())
		return
	}
	if errs := req.validate(); len(errs) > 0 {
		abortValidation(c, errs)
		return
	}
	resp, err := a.inventory.CreateProduct(c.Request.Context(), &inventoryv1.CreateProductRequest{
		Id: req.ID, Name: req.Name, Available: req.Available,
		Price: &moneyv1.Money{CurrencyCode: req.Price.Currency, MinorUnits: req.Price.AmountMinor},
	})
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusCreated, productJSON(resp.GetProduct()))
}

func (a *API) setStock(c *gin.Context) {
	id, ok := pathID(c)
	if !ok {
		return
	}
	var req SetStockRequest
	if err := decodeStrict(c.Request.Body, &req); err != nil {
		abortProblem(c, http.StatusBadRequest, "invalid_argument", err.Error())
		return
	}
	if errs := req.validate(); len(errs) > 0 {
		abortValidation(c, errs)
		return
	}
	resp, err := a.inventory.SetStock(c.Request.Context(), &inventoryv1.SetStockRequest{ProductId: id, Available: *req.Available})
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, productJSON(resp.GetProduct()))
}

// listParkedOrders answers GET /v1/admin/orders/parked: the orders that
// need an operator, the longest parked first, each with why.
func (a *API) listParkedOrders(c *gin.Context) {
	size, err := pageSize(c, api.OrdersPage)
	if err != nil {
		abortProblem(c, http.StatusBadRequest, "invalid_argument", err.Error())
		return
	}
	resp, err := a.orders.ListParkedOrders(c.Request.Context(), &orderv1.ListParkedOrdersRequest{PageSize: size, PageToken: c.Query("page_token")})
	if err != nil {
		writeProblem(c, err)
		return
	}
	out := make([]Order, 0, len(resp.GetOrders()))
	for _, o := range resp.GetOrders() {
		j := orderJSON(o)
		j.Attention = o.GetAttention()
		out = append(out, j)
	}
	c.JSON(http.StatusOK, gin.H{"orders": out, "next_page_token": resp.GetNextPageToken()})
}

// retryOrder answers POST /v1/admin/orders/{id}/retry: the parked order is
// taken up again where it stopped, in the background (202).
func (a *API) retryOrder(c *gin.Context) {
	id, ok := pathID(c)
	if !ok {
		return
	}
	resp, err := a.orders.RetryOrder(c.Request.Context(), &orderv1.RetryOrderRequest{Id: id})
	if err != nil {
		writeProblem(c, err)
		return
	}
	accepted(c, resp.GetOrder())
}

// compensateOrder answers POST /v1/admin/orders/{id}/compensate: the parked
// order is given up, its money and stock given back (200 once CANCELLED,
// 202 while that is under way).
func (a *API) compensateOrder(c *gin.Context) {
	id, ok := pathID(c)
	if !ok {
		return
	}
	resp, err := a.orders.CompensateOrder(c.Request.Context(), &orderv1.CompensateOrderRequest{Id: id})
	if err != nil {
		writeProblem(c, err)
		return
	}
	if underWay(resp.GetOrder()) {
		accepted(c, resp.GetOrder())
		return
	}
	c.JSON(http.StatusOK, orderJSON(resp.GetOrder()))
}
