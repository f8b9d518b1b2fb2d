package memstore_test

import (
	"testing"

	"github.com/shopmesh/shopmesh/payment/internal/memstore"
	"github.com/shopmesh/shopmesh/payment/internal/payment"
	"github.com/shopmesh/shopmesh/payment/internal/payment/storetest"
)

func TestStore_Contract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(*testing.T) payment.Store { return memstore.New() })
}
