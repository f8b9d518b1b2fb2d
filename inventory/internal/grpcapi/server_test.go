package grpcapi_test

import (
	"slices"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	moneyv1 "github.com/shopmesh/shopmesh/pkg/api/money/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"

	"github.com/shopmesh/shopmesh/inventory/internal/grpcapi"
	"github.com/shopmesh/shopmesh/inventory/internal/inventory"
	"github.com/shopmesh/shopmesh/inventory/internal/memstore"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newServer returns a Server over an in-memory store holding the seed catalog.
func newServer(t *testing.T) *grpcapi.Server {
	t.Helper()
	svc, err := inventory.NewService(memstore.New(inventory.SeedCatalog()))
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	return grpcapi.New(svc)
}

func TestAllowedCallers(t *testing.T) {
	t.Parallel()
	// A method without a rule would be refused to everyone; one with a
	// wrong rule would let a service do what it must not.
	for _, m := range inventoryv1.InventoryService_ServiceDesc.Methods {
		name := "/" + inventoryv1.InventoryService_ServiceDesc.ServiceName + "/" + m.MethodName
		if _, ok := grpcapi.AllowedCallers[name]; !ok {
			t.Errorf("no caller rule for %s", name)
		}
	}
	for _, name := range []string{inventoryv1.InventoryService_CreateProduct_FullMethodName, inventoryv1.InventoryService_SetStock_FullMethodName} {
		if got := grpcapi.AllowedCallers[name]; !slices.Equal(got, []string{"gateway"}) {
			t.Errorf("callers of %s: got %v, want only gateway", name, got)
		}
	}
}

func TestServer_CreateProduct(t *testing.T) {
	t.Parallel()
	req := &inventoryv1.CreateProductRequest{
		Id:        "p-2001",
		Name:      "Milk jug",
		Price:     &moneyv1.Money{CurrencyCode: "EUR", MinorUnits: 1500},
		Available: 12,
	}

	t.Run("converts every field both ways", func(t *testing.T) {
		t.Parallel()
		resp, err := newServer(t).CreateProduct(t.Context(), req)
		if err != nil {
			t.Fatalf("CreateProduct: %v", err)
		}
		want := &inventoryv1.Product{Id: "p-2001", Name: "Milk jug", Price: req.GetPrice(), Available: 12}
		if !proto.Equal(resp.GetProduct(), want) {
			t.Errorf("got %v, want %v", resp.GetProduct(), want)
		}
	})

	t.Run("a missing price is invalid", func(t *testing.T) {
		t.Parallel()
		noPrice := proto.CloneOf(req)
		noPrice.Price = nil
		_, err := newServer(t).CreateProduct(t.Context(), noPrice)
		if got := apperr.CodeOf(err); got != apperr.Invalid {
			t.Errorf("got error %v (code %q), want code %q", err, got, apperr.Invalid)
		}
	})

	t.Run("the id taken with other fields is a conflict", func(t *testing.T) {
		t.Parallel()
		clash := proto.CloneOf(req)
		clash.Id = "p-1001"
		_, err := newServer(t).CreateProduct(t.Context(), clash)
		if got := apperr.CodeOf(err); got != apperr.Conflict {
			t.Errorf("got error %v (code %q), want code %q", err, got, apperr.Conflict)
		}
	})
}

func TestServer_SetStock(t *testing.T) {
	t.Parallel()

	t.Run("returns the product with its new stock", func(t *testing.T) {
		t.Parallel()
		resp, err := newServer(t).SetStock(t.Context(), &inventoryv1.SetStockRequest{ProductId: "p-1003", Available: 4})
		if err != nil {
			t.Fatalf("SetStock: %v", err)
		}
		want := &inventoryv1.Product{Id: "p-1003", Name: "Hand grinder", Price: &moneyv1.Money{CurrencyCode: "EUR", MinorUnits: 8900}, Available: 4}
		if !proto.Equal(resp.GetProduct(), want) {
			t.Errorf("got %v, want %v", resp.GetProduct(), want)
		}
	})

	t.Run("unknown product", func(t *testing.T) {
		t.Parallel()
		_, err := newServer(t).SetStock(t.Context(), &inventoryv1.SetStockRequest{ProductId: "p-9999", Available: 4})
		if got := apperr.CodeOf(err); got != apperr.NotFound {
			t.Errorf("got error %v (code %q), want code %q", err, got, apperr.NotFound)
		}
	})
}
