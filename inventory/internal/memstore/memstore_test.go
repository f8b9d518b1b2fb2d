package memstore_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shopmesh/shopmesh/inventory/internal/inventory"
	"github.com/shopmesh/shopmesh/inventory/internal/inventory/storetest"
	"github.com/shopmesh/shopmesh/inventory/internal/memstore"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestStore runs the store contract that the Postgres store keeps too.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, products []inventory.Product, ttl time.Duration) storetest.Store {
		return memstore.New(products, memstore.WithTTL(ttl))
	})
}
