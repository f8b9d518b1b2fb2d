package inventory

import "github.com/shopmesh/shopmesh/pkg/platform/apperr"

// Allocation is what a reservation takes: its priced lines, their total,
// and how many units of each product leave the shelf.
type Allocation struct {
	Lines []Line
	Total Money
	// Take holds the units per product, summed over the items that name it.
	Take map[string]int64
}

// Allocate is the stock rule, the one both stores apply to the products
// they hold (locked, in Postgres): every item names a known product, every
// product has the units asked of it (summed over the items, so a product
// listed twice cannot overdraw it), and all prices share one currency. It
// checks in request order, so every store names the same item when several
// are short, and changes nothing: the store takes Take under its lock.
//
// Errors: NotFound for an unknown product; FailedPrecondition with reason
// ReasonOutOfStock (naming the product) or ReasonMixedPricing.
func Allocate(items []Item, products map[string]Product) (Allocation, error) {
	a := Allocation{Lines: make([]Line, 0, len(items)), Take: make(map[string]int64, len(items))}
	for _, it := range items {
		p, ok := products[it.ProductID]
		if !ok {
			return Allocation{}, apperr.New(apperr.NotFound, "product %s not found", it.ProductID)
		}
		a.Take[it.ProductID] += int64(it.Quantity)
		if p.Available < a.Take[it.ProductID] {
			return Allocation{}, apperr.New(apperr.FailedPrecondition, "product %s: %d available, %d requested", it.ProductID, p.Available, a.Take[it.ProductID]).
				WithReason(ReasonOutOfStock, "product_id", it.ProductID)
		}
	}
	for _, it := range items {
		p := products[it.ProductID]
		if a.Total.Currency == "" {
			a.Total.Currency = p.Price.Currency
		} else if a.Total.Currency != p.Price.Currency {
			return Allocation{}, apperr.New(apperr.FailedPrecondition, "products in one order must share a currency").WithReason(ReasonMixedPricing)
		}
		a.Lines = append(a.Lines, Line{ProductID: it.ProductID, Quantity: it.Quantity, UnitPrice: p.Price})
		a.Total.Minor += p.Price.Minor * int64(it.Quantity)
	}
	return a, nil
}
