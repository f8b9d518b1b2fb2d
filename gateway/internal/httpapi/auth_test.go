package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/shopmesh/shopmesh/gateway/internal/auth"
	"github.com/shopmesh/shopmesh/gateway/internal/httpapi"
	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"
)

func TestNew_AuthConfig(t *testing.T) {
	t.Parallel()
	short := testAuth
	short.Key = []byte("too short")
	if _, err := httpapi.New(&fakeInventory{}, &fakeOrders{}, slog.New(slog.DiscardHandler), httpapi.Config{Auth: short}); err == nil {
		t.Error("New with a 9-byte JWT key returned no error")
	}
}

func TestAPI_Auth(t *testing.T) {
	t.Parallel()
	var calls int
	orders := &fakeOrders{listOrders: func(_ context.Context, in *orderv1.ListOrdersRequest) (*orderv1.ListOrdersResponse, error) {
		calls++
		return &orderv1.ListOrdersResponse{}, nil
	}}
	mint := func(f func(*auth.Config), ttl time.Duration) string {
		cfg := testAuth
		if f != nil {
			f(&cfg)
		}
		tok, err := auth.Mint(cfg, "c-1", nil, ttl, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	hs512, err := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{
		"sub": "c-1", "iss": testAuth.Issuer, "aud": testAuth.Audience, "exp": time.Now().Add(time.Minute).Unix(),
	}).SignedString(testAuth.Key)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, authorization, challenge string
	}{
		{"missing", "", `Bearer realm="shopmesh"`},
		{"expired", mint(nil, -time.Hour), `error="invalid_token"`},
		{"wrongly signed", mint(func(c *auth.Config) { c.Key = []byte(strings.Repeat("w", 32)) }, time.Minute), `error="invalid_token"`},
		{"wrong audience", mint(func(c *auth.Config) { c.Audience = "other-api" }, time.Minute), `error="invalid_token"`},
		{"wrong issuer", mint(func(c *auth.Config) { c.Issuer = "someone-else" }, time.Minute), `error="invalid_token"`},
		{"another algorithm", "Bearer " + hs512, `error="invalid_token"`},
		{"not a bearer", "Basic YWxpY2U6cHc=", `error="invalid_request"`},
		{"empty bearer", "Bearer ", `error="invalid_request"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(t, nil, orders)
			header := map[string]string{}
			if tt.authorization != "" {
				header["Authorization"] = tt.authorization
			}
			rec := serve(t, h, http.MethodGet, "/v1/orders", header, "")
			wantProblem(t, rec, http.StatusUnauthorized, "unauthenticated")
			if got := rec.Result().Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") || !strings.Contains(got, tt.challenge) {
				t.Errorf("got WWW-Authenticate %q, want a Bearer challenge with %s", got, tt.challenge)
			}
		})
	}
	if calls != 0 {
		t.Errorf("got %d calls to the order service, want 0", calls)
	}

	t.Run("a valid token names the customer", func(t *testing.T) {
		var got string
		h := newHandler(t, nil, &fakeOrders{listOrders: func(_ context.Context, in *orderv1.ListOrdersRequest) (*orderv1.ListOrdersResponse, error) {
			got = in.GetCustomerId()
			return &orderv1.ListOrdersResponse{}, nil
		}})
		if rec := serve(t, h, http.MethodGet, "/v1/orders", map[string]string{"Authorization": mint(nil, time.Minute)}, ""); rec.Code != http.StatusOK {
			t.Fatalf("got status %d, want 200 (body %s)", rec.Code, rec.Body)
		}
		if got != "c-1" {
			t.Errorf("order service got customer %q, want c-1 from sub", got)
		}
	})

	t.Run("other customer's order is 404", func(t *testing.T) {
		h := newHandler(t, nil, &fakeOrders{getOrder: func(context.Context, *orderv1.GetOrderRequest) (*orderv1.GetOrderResponse, error) {
			return &orderv1.GetOrderResponse{Order: confirmed("ord_1", "c-1")}, nil
		}})
		wantProblem(t, serve(t, h, http.MethodGet, "/v1/orders/ord_1", as("c-2"), ""), http.StatusNotFound, "not_found")
	})

	t.Run("the catalog is public", func(t *testing.T) {
		h := newHandler(t, &fakeInventory{listProducts: func(context.Context, *inventoryv1.ListProductsRequest) (*inventoryv1.ListProductsResponse, error) {
			return &inventoryv1.ListProductsResponse{}, nil
		}}, nil)
		if rec := serve(t, h, http.MethodGet, "/v1/products", nil, ""); rec.Code != http.StatusOK {
			t.Errorf("got status %d, want 200 without a token", rec.Code)
		}
	})

	t.Run("a bad token is refused even on a public route", func(t *testing.T) {
		h := newHandler(t, nil, nil)
		rec := serve(t, h, http.MethodGet, "/v1/products", map[string]string{"Authorization": mint(nil, -time.Hour)}, "")
		wantProblem(t, rec, http.StatusUnauthorized, "unauthenticated")
	})
}
