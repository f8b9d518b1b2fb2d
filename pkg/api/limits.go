package api

// Limits of the API, declared once: the gateway checks them before any
// call, order and inventory check them again for callers inside the mesh,
// and the gateway's OpenAPI document states the same numbers (a gateway test
// checks that it does).
const (
	// MaxOrderItems is the most lines one order may have.
	MaxOrderItems = 100
	// MaxItemQuantity is the most units of one product in one order line.
	MaxItemQuantity = 1000
	// MaxIdempotencyKeyLen is the longest idempotency key order accepts.
	MaxIdempotencyKeyLen = 128
	// MaxPaymentTokenLen is the longest payment token the gateway accepts.
	MaxPaymentTokenLen = 256

	// MaxProductIDLen is the longest product id; ids use [A-Za-z0-9_-],
	// as the gateway's path ids do, so an id never needs escaping in a URL.
	MaxProductIDLen = 64
	// MaxProductNameLen is the longest product name, in characters.
	MaxProductNameLen = 200
	// MaxAvailable is the largest stock one call may set.
	MaxAvailable = 1_000_000
)

// PageSizes bounds the page_size of a listing call: 0 asks for Default;
// more than Max is answered with Max inside the mesh and refused at the
// edge, where a client learns the limit from the OpenAPI document.
type PageSizes struct{ Default, Max int }

// Page sizes of the listing methods.
var (
	ProductsPage = PageSizes{Default: 50, Max: 200} // inventory.ListProducts
	OrdersPage   = PageSizes{Default: 20, Max: 100} // order.ListOrders and ListParkedOrders
)

// Clamp returns the page size a callee serves for a requested n >= 0.
func (p PageSizes) Clamp(n int) int {
	if n == 0 {
		return p.Default
	}
	return min(n, p.Max)
}
