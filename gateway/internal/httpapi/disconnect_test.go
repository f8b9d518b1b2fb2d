package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
)

// A client that hangs up cancels the work it started downstream: the order
// service's context ends with the HTTP request's (seed rule 4).
func TestAPI_ClientDisconnectCancelsDownstream(t *testing.T) {
	t.Parallel()
	downstream := make(chan error, 1)
	h := newHandler(t, nil, &fakeOrders{placeOrder: func(ctx context.Context, _ *orderv1.PlaceOrderRequest) (*orderv1.PlaceOrderResponse, error) {
		select {
		case <-ctx.Done():
			downstream <- ctx.Err()
		case <-time.After(10 * time.Second):
			downstream <- errors.New("never canceled")
		}
		return nil, ctx.Err()
	}})
	srv := httptest.NewServer(h)
	defer srv.Close()

	hc, err := httpclient.New(httpclient.Options{Name: "test", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/orders", strings.NewReader(orderBody))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range orderHeaders {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	if resp, err := hc.Do(req); err == nil {
		httpclient.DrainAndClose(resp.Body)
		t.Fatalf("request answered %s, want the client to give up first", resp.Status)
	}
	select {
	case err := <-downstream:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("downstream context ended with %v, want context.Canceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the order call was not canceled within 3s of the client hanging up")
	}
}
