package inventory

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// SeedCatalog is the catalog a fresh inventory starts with, so `make up`
// has something to sell. Prices are in euro cents.
func SeedCatalog() []Product {
	eur := func(cents int64) Money { return Money{Currency: "EUR", Minor: cents} }
	return []Product{
		{ID: "p-1001", Name: "Espresso beans, 1 kg", Price: eur(2490), Available: 100},
		{ID: "p-1002", Name: "Ceramic pour-over dripper", Price: eur(3200), Available: 40},
		{ID: "p-1003", Name: "Hand grinder", Price: eur(8900), Available: 25},
		{ID: "p-1004", Name: "Gooseneck kettle", Price: eur(6450), Available: 30},
		{ID: "p-1005", Name: "Paper filters, 100 pcs", Price: eur(690), Available: 500},
	}
}

// CreateProduct validates p and adds it to the catalog with p.Available
// units in stock. A repeat with the same fields returns the stored product
// (with its current stock); the id taken by a product with other fields
// is a Conflict.
func (s *Service) CreateProduct(ctx context.Context, p Product) (Product, error) {
	if err := validateProduct(p); err != nil {
		return Product{}, err
	}
	return s.store.CreateProduct(ctx, p)
}

// SetStock sets the units of product id that can still be reserved.
// Units held by reservations are not counted: they come back on Release.
func (s *Service) SetStock(ctx context.Context, id string, available int64) (Product, error) {
	if err := validateProductID(id); err != nil {
		return Product{}, err
	}
	if err := validateAvailable(available); err != nil {
		return Product{}, err
	}
	return s.store.SetStock(ctx, id, available)
}

// validateProduct checks every field of a product to be created.
func validateProduct(p Product) error {
	if err := validateProductID(p.ID); err != nil {
		return err
	}
	if err := validateName(p.Name); err != nil {
		return err
	}
	if err := validatePrice(p.Price); err != nil {
		return err
	}
	return validateAvailable(p.Available)
}

func validateProductID(id string) error {
	if id == "" || len(id) > api.MaxProductIDLen {
		return apperr.New(apperr.Invalid, "product id must be 1..%d characters, got %d", api.MaxProductIDLen, len(id))
	}
	for _, c := range id {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return apperr.New(apperr.Invalid, "product id %q: only letters, digits, '_' and '-' are allowed", id)
		}
	}
	return nil
}

func validateName(name string) error {
	if !utf8.ValidString(name) {
		return apperr.New(apperr.Invalid, "product name must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(name); n > api.MaxProductNameLen {
		return apperr.New(apperr.Invalid, "product name must be 1..%d characters, got %d", api.MaxProductNameLen, n)
	}
	if strings.TrimSpace(name) == "" {
		return apperr.New(apperr.Invalid, "product name must not be blank")
	}
	// Control characters (NUL above all, which Postgres text rejects) have
	// no place in a name a shop displays.
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return apperr.New(apperr.Invalid, "product name must not contain control characters")
	}
	return nil
}

func validatePrice(m Money) error {
	if len(m.Currency) != 3 || strings.IndexFunc(m.Currency, func(c rune) bool { return c < 'A' || c > 'Z' }) >= 0 {
		return apperr.New(apperr.Invalid, "price currency must be a 3-letter upper-case ISO 4217 code, got %q", m.Currency)
	}
	if m.Minor <= 0 {
		return apperr.New(apperr.Invalid, "price must be greater than zero, got %d", m.Minor)
	}
	return nil
}

func validateAvailable(n int64) error {
	if n < 0 || n > api.MaxAvailable {
		return apperr.New(apperr.Invalid, "available must be 0..%d, got %d", api.MaxAvailable, n)
	}
	return nil
}
