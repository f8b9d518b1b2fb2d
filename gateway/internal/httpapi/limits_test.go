package httpapi_test

import (
	"encoding/json"
	"testing"

	"github.com/shopmesh/shopmesh/gateway/internal/httpapi"
	"github.com/shopmesh/shopmesh/pkg/api"
)

// TestOpenAPI_LimitsMatchAPI checks that the limits the OpenAPI document
// states are the ones declared in pkg/api, which the gateway, order and
// inventory enforce.
func TestOpenAPI_LimitsMatchAPI(t *testing.T) {
	t.Parallel()
	var doc map[string]any
	if err := json.Unmarshal(httpapi.OpenAPI(), &doc); err != nil {
		t.Fatalf("decode openapi.json: %v", err)
	}
	// at walks the document by keys (strings) and array indexes (ints).
	at := func(path ...any) any {
		var v any = doc
		for _, k := range path {
			switch k := k.(type) {
			case string:
				m, _ := v.(map[string]any)
				v = m[k]
			case int:
				a, _ := v.([]any)
				if k >= len(a) {
					return nil
				}
				v = a[k]
			}
		}
		return v
	}
	schema := func(name string, field ...any) []any {
		return append([]any{"components", "schemas", name, "properties"}, field...)
	}
	// pageMax finds the maximum of the page_size parameter of GET path.
	pageMax := func(path string) any {
		params, _ := at("paths", path, "get", "parameters").([]any)
		for _, p := range params {
			if p, _ := p.(map[string]any); p["name"] == "page_size" {
				return p["schema"].(map[string]any)["maximum"]
			}
		}
		return nil
	}

	tests := []struct {
		where string
		got   any
		want  int
	}{
		{"PlaceOrderRequest.items maxItems", at(schema("PlaceOrderRequest", "items", "maxItems")...), api.MaxOrderItems},
		{"OrderItem.quantity maximum", at(schema("OrderItem", "quantity", "maximum")...), api.MaxItemQuantity},
		{"PlaceOrderRequest.payment_token maxLength", at(schema("PlaceOrderRequest", "payment_token", "maxLength")...), api.MaxPaymentTokenLen},
		{"CreateProductRequest.name maxLength", at(schema("CreateProductRequest", "name", "maxLength")...), api.MaxProductNameLen},
		{"CreateProductRequest.available maximum", at(schema("CreateProductRequest", "available", "maximum")...), api.MaxAvailable},
		{"SetStockRequest.available maximum", at(schema("SetStockRequest", "available", "maximum")...), api.MaxAvailable},
		{"GET /v1/products page_size maximum", pageMax("/v1/products"), api.ProductsPage.Max},
		{"GET /v1/orders page_size maximum", pageMax("/v1/orders"), api.OrdersPage.Max},
		{"GET /v1/admin/orders/parked page_size maximum", pageMax("/v1/admin/orders/parked"), api.OrdersPage.Max},
	}
	for _, tt := range tests {
		if n, ok := tt.got.(float64); !ok || int(n) != tt.want {
			t.Errorf("openapi.json %s is %v, pkg/api says %d", tt.where, tt.got, tt.want)
		}
	}
}
