package layering_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/shopmesh/shopmesh/tools/analyzers/layering"
)

func TestAnalyzer(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), layering.Analyzer,
		"example.com/shop/order/internal/order", "example.com/shop/order/internal/grpcapi",
		"example.com/shop/inventory/internal/inventory", "example.com/shop/pkg/platform/apperr")
}
