package memstore_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/shopmesh/shopmesh/shipping/internal/memstore"
	"github.com/shopmesh/shopmesh/shipping/internal/shipping"
	"github.com/shopmesh/shopmesh/shipping/internal/shipping/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestStore runs the store contract that the Postgres store keeps too.
func TestStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) shipping.Store { return memstore.New() })
}
