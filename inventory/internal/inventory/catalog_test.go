package inventory_test

import (
	"context"
	"strings"
	"testing"

	"github.com/shopmesh/shopmesh/inventory/internal/inventory"
	"github.com/shopmesh/shopmesh/inventory/internal/memstore"
	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

func TestSeedCatalog_IsValid(t *testing.T) {
	t.Parallel()
	svc := newService(t, memstore.New(nil))
	for _, p := range inventory.SeedCatalog() {
		if _, err := svc.CreateProduct(t.Context(), p); err != nil {
			t.Errorf("CreateProduct(%s): %v, want the seed catalog to pass validation", p.ID, err)
		}
	}
}

func TestService_CreateProduct(t *testing.T) {
	t.Parallel()
	valid := inventory.Product{ID: "p-2001", Name: "Milk jug", Price: inventory.Money{Currency: "EUR", Minor: 1500}, Available: 10}

	t.Run("a valid product reaches the store", func(t *testing.T) {
		t.Parallel()
		var got inventory.Product
		svc := newService(t, &fakeStore{t: t, create: func(_ context.Context, p inventory.Product) (inventory.Product, error) {
			got = p
			return p, nil
		}})
		if _, err := svc.CreateProduct(t.Context(), valid); err != nil {
			t.Fatalf("CreateProduct: %v", err)
		}
		if got != valid {
			t.Errorf("store got %+v, want %+v", got, valid)
		}
	})

	t.Run("limits are inclusive", func(t *testing.T) {
		t.Parallel()
		svc := newService(t, &fakeStore{t: t, create: func(_ context.Context, p inventory.Product) (inventory.Product, error) { return p, nil }})
		p := valid
		p.ID = strings.Repeat("a", api.MaxProductIDLen)
		p.Name = strings.Repeat("é", api.MaxProductNameLen) // characters, not bytes
		p.Price.Minor = 1
		p.Available = api.MaxAvailable
		if _, err := svc.CreateProduct(t.Context(), p); err != nil {
			t.Errorf("CreateProduct at the limits: %v, want no error", err)
		}
		p.Available = 0
		if _, err := svc.CreateProduct(t.Context(), p); err != nil {
			t.Errorf("CreateProduct with no stock: %v, want no error", err)
		}
	})

	tests := []struct {
		name   string
		change func(p *inventory.Product)
	}{
		{"empty id", func(p *inventory.Product) { p.ID = "" }},
		{"id too long", func(p *inventory.Product) { p.ID = strings.Repeat("a", api.MaxProductIDLen+1) }},
		{"id with a slash", func(p *inventory.Product) { p.ID = "p/1" }},
		{"id with a space", func(p *inventory.Product) { p.ID = "p 1" }},
		{"id with a non-ASCII letter", func(p *inventory.Product) { p.ID = "pé" }},
		{"empty name", func(p *inventory.Product) { p.Name = "" }},
		{"blank name", func(p *inventory.Product) { p.Name = "  \t" }},
		{"name too long", func(p *inventory.Product) { p.Name = strings.Repeat("x", api.MaxProductNameLen+1) }},
		{"name with NUL", func(p *inventory.Product) { p.Name = "milk\x00jug" }},
		{"name not UTF-8", func(p *inventory.Product) { p.Name = "milk \xff" }},
		{"zero price", func(p *inventory.Product) { p.Price.Minor = 0 }},
		{"negative price", func(p *inventory.Product) { p.Price.Minor = -1 }},
		{"no currency", func(p *inventory.Product) { p.Price.Currency = "" }},
		{"lower-case currency", func(p *inventory.Product) { p.Price.Currency = "eur" }},
		{"currency of 4 letters", func(p *inventory.Product) { p.Price.Currency = "EURO" }},
		{"currency with a digit", func(p *inventory.Product) { p.Price.Currency = "EU1" }},
		{"negative stock", func(p *inventory.Product) { p.Available = -1 }},
		{"stock too large", func(p *inventory.Product) { p.Available = api.MaxAvailable + 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			svc := newService(t, &fakeStore{t: t}) // the store must not be called
			p := valid
			tt.change(&p)
			_, err := svc.CreateProduct(t.Context(), p)
			wantCode(t, err, apperr.Invalid)
		})
	}
}

func TestService_SetStock(t *testing.T) {
	t.Parallel()

	t.Run("reaches the store", func(t *testing.T) {
		t.Parallel()
		svc := newService(t, memstore.New(inventory.SeedCatalog()))
		p, err := svc.SetStock(t.Context(), "p-1001", 7)
		if err != nil {
			t.Fatalf("SetStock: %v", err)
		}
		if p.ID != "p-1001" || p.Available != 7 {
			t.Errorf("got %+v, want p-1001 with 7 available", p)
		}
	})

	tests := []struct {
		name      string
		id        string
		available int64
	}{
		{"empty id", "", 1},
		{"invalid id", "p/1", 1},
		{"negative", "p-1001", -1},
		{"too large", "p-1001", api.MaxAvailable + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			svc := newService(t, &fakeStore{t: t})
			_, err := svc.SetStock(t.Context(), tt.id, tt.available)
			wantCode(t, err, apperr.Invalid)
		})
	}
}
