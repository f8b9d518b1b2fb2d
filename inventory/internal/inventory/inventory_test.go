package inventory_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/shopmesh/shopmesh/inventory/internal/inventory"
	"github.com/shopmesh/shopmesh/inventory/internal/memstore"
	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// fakeStore is an inventory.Store whose methods are set per test; a method
// left nil fails the test when called.
type fakeStore struct {
	t            *testing.T
	listProducts func(ctx context.Context, after string, limit int) ([]inventory.Product, error)
	getProduct   func(ctx context.Context, id string) (inventory.Product, error)
	reserve      func(ctx context.Context, orderID string, items []inventory.Item) (inventory.Reservation, error)
	commit       func(ctx context.Context, orderID string) (inventory.Reservation, error)
	release      func(ctx context.Context, orderID string) (inventory.Reservation, error)
	create       func(ctx context.Context, p inventory.Product) (inventory.Product, error)
	setStock     func(ctx context.Context, id string, available int64) (inventory.Product, error)
}

var _ inventory.Store = (*fakeStore)(nil)

func (f *fakeStore) ListProducts(ctx context.Context, after string, limit int) ([]inventory.Product, error) {
	if f.listProducts == nil {
		f.t.Fatalf("unexpected ListProducts(%q, %d)", after, limit)
	}
	return f.listProducts(ctx, after, limit)
}

func (f *fakeStore) GetProduct(ctx context.Context, id string) (inventory.Product, error) {
	if f.getProduct == nil {
		f.t.Fatalf("unexpected GetProduct(%q)", id)
	}
	return f.getProduct(ctx, id)
}

func (f *fakeStore) Reserve(ctx context.Context, orderID string, items []inventory.Item) (inventory.Reservation, error) {
	if f.reserve == nil {
		f.t.Fatalf("unexpected Reserve(%q, %d items)", orderID, len(items))
	}
	return f.reserve(ctx, orderID, items)
}

func (f *fakeStore) Commit(ctx context.Context, orderID string) (inventory.Reservation, error) {
	if f.commit == nil {
		f.t.Fatalf("unexpected Commit(%q)", orderID)
	}
	return f.commit(ctx, orderID)
}

func (f *fakeStore) Release(ctx context.Context, orderID string) (inventory.Reservation, error) {
	if f.release == nil {
		f.t.Fatalf("unexpected Release(%q)", orderID)
	}
	return f.release(ctx, orderID)
}

func (f *fakeStore) CreateProduct(ctx context.Context, p inventory.Product) (inventory.Product, error) {
	if f.create == nil {
		f.t.Fatalf("unexpected CreateProduct(%q)", p.ID)
	}
	return f.create(ctx, p)
}

func (f *fakeStore) SetStock(ctx context.Context, id string, available int64) (inventory.Product, error) {
	if f.setStock == nil {
		f.t.Fatalf("unexpected SetStock(%q, %d)", id, available)
	}
	return f.setStock(ctx, id, available)
}

// newService returns a Service over store and fails the test if it cannot.
func newService(t *testing.T, store inventory.Store) *inventory.Service {
	t.Helper()
	svc, err := inventory.NewService(store)
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	return svc
}

// items returns n items of distinct products, one unit each.
func items(n int) []inventory.Item {
	out := make([]inventory.Item, n)
	for i := range out {
		out[i] = inventory.Item{ProductID: fmt.Sprintf("p-%04d", i), Quantity: 1}
	}
	return out
}

// wantCode fails the test unless err carries the apperr code want.
func wantCode(t *testing.T, err error, want apperr.Code) {
	t.Helper()
	if got := apperr.CodeOf(err); got != want {
		t.Fatalf("got error %v (code %q), want code %q", err, got, want)
	}
}

func TestNewService_NilStore(t *testing.T) {
	t.Parallel()
	if _, err := inventory.NewService(nil); err == nil {
		t.Fatal("NewService(nil) returned no error")
	}
}

func TestService_Reserve(t *testing.T) {
	t.Parallel()

	t.Run("invalid requests never reach the store", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name    string
			orderID string
			items   []inventory.Item
		}{
			{"empty order id", "", items(1)},
			{"no items", "ord-1", nil},
			{"more than 100 items", "ord-1", items(api.MaxOrderItems + 1)},
			{"quantity 0", "ord-1", []inventory.Item{{ProductID: "p-1001", Quantity: 0}}},
			{"negative quantity", "ord-1", []inventory.Item{{ProductID: "p-1001", Quantity: -1}}},
			{"quantity 1001", "ord-1", []inventory.Item{{ProductID: "p-1001", Quantity: api.MaxItemQuantity + 1}}},
			{"empty product id", "ord-1", []inventory.Item{{ProductID: "", Quantity: 1}}},
			{"duplicate product", "ord-1", []inventory.Item{{ProductID: "p-1001", Quantity: 1}, {ProductID: "p-1002", Quantity: 1}, {ProductID: "p-1001", Quantity: 2}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				svc := newService(t, &fakeStore{t: t}) // any store call fails the test
				_, err := svc.Reserve(context.Background(), tt.orderID, tt.items)
				wantCode(t, err, apperr.Invalid)
			})
		}
	})

	t.Run("limits are inclusive", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name  string
			items []inventory.Item
		}{
			{"100 items", items(api.MaxOrderItems)},
			{"quantity 1000", []inventory.Item{{ProductID: "p-1001", Quantity: api.MaxItemQuantity}}},
			{"quantity 1", []inventory.Item{{ProductID: "p-1001", Quantity: 1}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				calls := 0
				svc := newService(t, &fakeStore{t: t, reserve: func(_ context.Context, orderID string, got []inventory.Item) (inventory.Reservation, error) {
					calls++
					if !slices.Equal(got, tt.items) {
						t.Errorf("store got %d items, want the %d requested", len(got), len(tt.items))
					}
					return inventory.Reservation{OrderID: orderID, State: inventory.Reserved}, nil
				}})
				if _, err := svc.Reserve(context.Background(), "ord-1", tt.items); err != nil {
					t.Fatalf("Reserve: %v", err)
				}
				if calls != 1 {
					t.Errorf("got %d store reservations, want 1", calls)
				}
			})
		}
	})

	t.Run("store errors pass through with their code", func(t *testing.T) {
		t.Parallel()
		short := apperr.New(apperr.FailedPrecondition, "short").WithReason(inventory.ReasonOutOfStock)
		svc := newService(t, &fakeStore{t: t, reserve: func(context.Context, string, []inventory.Item) (inventory.Reservation, error) {
			return inventory.Reservation{}, short
		}})
		_, err := svc.Reserve(context.Background(), "ord-1", items(1))
		wantCode(t, err, apperr.FailedPrecondition)
		if got := apperr.ReasonOf(err); got != inventory.ReasonOutOfStock {
			t.Errorf("got reason %q, want %q", got, inventory.ReasonOutOfStock)
		}
	})

	t.Run("a repeat for a released reservation is refused, not answered as a reservation", func(t *testing.T) {
		t.Parallel()
		svc := newService(t, &fakeStore{t: t, reserve: func(_ context.Context, orderID string, _ []inventory.Item) (inventory.Reservation, error) {
			return inventory.Reservation{OrderID: orderID, State: inventory.Released}, nil
		}})
		_, err := svc.Reserve(context.Background(), "ord-1", items(1))
		wantCode(t, err, apperr.FailedPrecondition)
		if got := apperr.ReasonOf(err); got != inventory.ReasonReservationReleased {
			t.Errorf("got reason %q, want %q", got, inventory.ReasonReservationReleased)
		}
	})
}

func TestService_CommitRelease_EmptyOrderID(t *testing.T) {
	t.Parallel()
	svc := newService(t, &fakeStore{t: t})
	_, err := svc.Commit(context.Background(), "")
	wantCode(t, err, apperr.Invalid)
	_, err = svc.Release(context.Background(), "")
	wantCode(t, err, apperr.Invalid)
}

func TestService_GetProduct(t *testing.T) {
	t.Parallel()
	svc := newService(t, memstore.New(inventory.SeedCatalog()))

	t.Run("known product", func(t *testing.T) {
		t.Parallel()
		p, err := svc.GetProduct(context.Background(), "p-1003")
		if err != nil {
			t.Fatalf("GetProduct: %v", err)
		}
		if p.ID != "p-1003" || p.Price != (inventory.Money{Currency: "EUR", Minor: 8900}) {
			t.Errorf("got %+v, want p-1003 at 8900 EUR", p)
		}
	})
	t.Run("empty id", func(t *testing.T) {
		t.Parallel()
		_, err := svc.GetProduct(context.Background(), "")
		wantCode(t, err, apperr.Invalid)
	})
	t.Run("unknown id", func(t *testing.T) {
		t.Parallel()
		_, err := svc.GetProduct(context.Background(), "p-9999")
		wantCode(t, err, apperr.NotFound)
	})
}

// catalog returns n products with ids p-0000 … in id order.
func catalog(n int) []inventory.Product {
	out := make([]inventory.Product, n)
	for i := range out {
		out[i] = inventory.Product{ID: fmt.Sprintf("p-%04d", i), Name: "thing", Price: inventory.Money{Currency: "EUR", Minor: 100}, Available: 1}
	}
	return out
}

func ids(products []inventory.Product) []string {
	out := make([]string, len(products))
	for i, p := range products {
		out[i] = p.ID
	}
	return out
}

func TestService_ListProducts(t *testing.T) {
	t.Parallel()

	t.Run("page size 2 walks every page of the seed catalog", func(t *testing.T) {
		t.Parallel()
		svc := newService(t, memstore.New(inventory.SeedCatalog()))
		var pages [][]string
		token := ""
		for range 10 { // bounded: a paging bug must not hang the test
			products, next, err := svc.ListProducts(context.Background(), 2, token)
			if err != nil {
				t.Fatalf("ListProducts(2, %q): %v", token, err)
			}
			pages = append(pages, ids(products))
			if next == "" {
				break
			}
			if want := products[len(products)-1].ID; next != want {
				t.Fatalf("got next token %q, want the last id of the page %q", next, want)
			}
			token = next
		}
		want := [][]string{{"p-1001", "p-1002"}, {"p-1003", "p-1004"}, {"p-1005"}}
		if !slices.EqualFunc(pages, want, slices.Equal) {
			t.Errorf("got pages %v, want %v", pages, want)
		}
	})

	t.Run("exactly one full page has no next token", func(t *testing.T) {
		t.Parallel()
		svc := newService(t, memstore.New(inventory.SeedCatalog()))
		products, next, err := svc.ListProducts(context.Background(), 5, "")
		if err != nil {
			t.Fatalf("ListProducts: %v", err)
		}
		if len(products) != 5 || next != "" {
			t.Errorf("got %d products and next token %q, want 5 and no token", len(products), next)
		}
	})

	t.Run("negative page size", func(t *testing.T) {
		t.Parallel()
		svc := newService(t, &fakeStore{t: t})
		_, _, err := svc.ListProducts(context.Background(), -1, "")
		wantCode(t, err, apperr.Invalid)
	})

	sizes := []struct {
		name     string
		pageSize int
		want     int
	}{
		{"zero means the default", 0, api.ProductsPage.Default},
		{"over the maximum is capped", 1000, api.ProductsPage.Max},
		{"the maximum itself", api.ProductsPage.Max, api.ProductsPage.Max},
	}
	for _, tt := range sizes {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			svc := newService(t, memstore.New(catalog(250)))
			products, next, err := svc.ListProducts(context.Background(), tt.pageSize, "")
			if err != nil {
				t.Fatalf("ListProducts(%d): %v", tt.pageSize, err)
			}
			if len(products) != tt.want {
				t.Fatalf("got %d products, want %d", len(products), tt.want)
			}
			if want := products[len(products)-1].ID; next != want {
				t.Errorf("got next token %q, want %q", next, want)
			}
		})
	}

	t.Run("store error is wrapped with its code", func(t *testing.T) {
		t.Parallel()
		svc := newService(t, &fakeStore{t: t, listProducts: func(context.Context, string, int) ([]inventory.Product, error) {
			return nil, apperr.New(apperr.Unavailable, "db down")
		}})
		_, _, err := svc.ListProducts(context.Background(), 2, "")
		wantCode(t, err, apperr.Unavailable)
	})
}

func TestAllocate(t *testing.T) {
	t.Parallel()
	products := map[string]inventory.Product{
		"a": {ID: "a", Available: 5, Price: inventory.Money{Currency: "EUR", Minor: 250}},
		"b": {ID: "b", Available: 2, Price: inventory.Money{Currency: "EUR", Minor: 1000}},
		"u": {ID: "u", Available: 9, Price: inventory.Money{Currency: "USD", Minor: 1000}},
	}
	items := func(kv ...any) []inventory.Item {
		var its []inventory.Item
		for i := 0; i < len(kv); i += 2 {
			its = append(its, inventory.Item{ProductID: kv[i].(string), Quantity: int32(kv[i+1].(int))})
		}
		return its
	}

	t.Run("prices each line, sums the total and the units per product", func(t *testing.T) {
		t.Parallel()
		a, err := inventory.Allocate(items("a", 3, "b", 2), products)
		if err != nil {
			t.Fatalf("Allocate: %v", err)
		}
		want := []inventory.Line{
			{ProductID: "a", Quantity: 3, UnitPrice: inventory.Money{Currency: "EUR", Minor: 250}},
			{ProductID: "b", Quantity: 2, UnitPrice: inventory.Money{Currency: "EUR", Minor: 1000}},
		}
		if !slices.Equal(a.Lines, want) {
			t.Errorf("got lines %+v, want %+v", a.Lines, want)
		}
		if want := (inventory.Money{Currency: "EUR", Minor: 2750}); a.Total != want {
			t.Errorf("got total %+v, want %+v", a.Total, want)
		}
		if a.Take["a"] != 3 || a.Take["b"] != 2 || len(a.Take) != 2 {
			t.Errorf("takes %v, want a:3 b:2", a.Take)
		}
		if products["a"].Available != 5 {
			t.Errorf("Allocate changed the products it was given")
		}
	})

	refusals := []struct {
		name       string
		items      []inventory.Item
		code       apperr.Code
		reason     string
		wantInText string
	}{
		{"an unknown product", items("a", 1, "x", 1), apperr.NotFound, "", "x"},
		{"more than is available", items("b", 3), apperr.FailedPrecondition, inventory.ReasonOutOfStock, "b"},
		{"a product listed twice is summed", items("a", 3, "a", 3), apperr.FailedPrecondition, inventory.ReasonOutOfStock, "6 requested"},
		{"the first short item in request order is named", items("a", 9, "b", 9), apperr.FailedPrecondition, inventory.ReasonOutOfStock, "product a"},
		{"mixed currencies", items("a", 1, "u", 1), apperr.FailedPrecondition, inventory.ReasonMixedPricing, "currency"},
		{"short stock is named before mixed currencies", items("u", 1, "b", 3), apperr.FailedPrecondition, inventory.ReasonOutOfStock, "b"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := inventory.Allocate(tt.items, products)
			wantCode(t, err, tt.code)
			if got := apperr.ReasonOf(err); got != tt.reason {
				t.Errorf("got reason %q, want %q", got, tt.reason)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantInText) {
				t.Errorf("error %q does not say %q", err, tt.wantInText)
			}
		})
	}
}
