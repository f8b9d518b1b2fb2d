package httpapi_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shopmesh/shopmesh/gateway/internal/auth"
	"github.com/shopmesh/shopmesh/gateway/internal/httpapi"
	moneyv1 "github.com/shopmesh/shopmesh/pkg/api/money/v1"
	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"
)

// requestTimeout is the per-request budget of the API under test.
const requestTimeout = 2 * time.Second

// testAuth is the JWT configuration of the API under test.
var testAuth = auth.Config{Key: []byte("test-only-signing-key-0123456789abcdef"), Issuer: "shopmesh-test", Audience: "shopmesh-api"}

// mustBearer returns an Authorization value with a token for subject,
// valid for a minute, signed with testAuth.
func mustBearer(subject string, roles ...string) string {
	tok, err := auth.Mint(testAuth, subject, roles, time.Minute, time.Now())
	if err != nil {
		panic(err)
	}
	return "Bearer " + tok
}

// as returns headers naming subject as the caller.
func as(subject string) map[string]string {
	return map[string]string{"Authorization": mustBearer(subject)}
}

// newHandler returns the API's handler over the fakes; nil fakes become
// empty ones, whose every method panics. Options change the Config.
func newHandler(t testing.TB, inv *fakeInventory, orders *fakeOrders, opts ...func(*httpapi.Config)) http.Handler {
	t.Helper()
	return newLoggingHandler(t, slog.New(slog.DiscardHandler), inv, orders, opts...)
}

// newLoggingHandler is newHandler with the API writing to logger.
func newLoggingHandler(t testing.TB, logger *slog.Logger, inv *fakeInventory, orders *fakeOrders, opts ...func(*httpapi.Config)) http.Handler {
	t.Helper()
	if inv == nil {
		inv = &fakeInventory{}
	}
	if orders == nil {
		orders = &fakeOrders{}
	}
	cfg := httpapi.Config{RequestTimeout: requestTimeout, Auth: testAuth}
	for _, o := range opts {
		o(&cfg)
	}
	api, err := httpapi.New(inv, orders, logger, cfg)
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	return api.Handler()
}

// withRateLimit sets each client's rate and burst.
func withRateLimit(rps float64, burst int) func(*httpapi.Config) {
	return func(c *httpapi.Config) { c.RateLimitRPS, c.RateLimitBurst = rps, burst }
}

// serve sends one request to h and returns the recorded answer. Every
// answer must carry an X-Request-Id, so serve checks that for all tests.
func serve(t testing.TB, h http.Handler, method, target string, header map[string]string, body string) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	observe(req.Method, req.URL.Path, rec.Code)
	if rec.Result().Header.Get("X-Request-Id") == "" {
		t.Errorf("%s %s: got no X-Request-Id on a %d answer", method, target, rec.Code)
	}
	return rec
}

// wantProblem fails the test unless rec is an RFC 9457 problem with status
// code and a type ending in "/"+typ; it returns the problem.
func wantProblem(t *testing.T, rec *httptest.ResponseRecorder, code int, typ string) httpapi.Problem {
	t.Helper()
	if rec.Code != code {
		t.Errorf("got status %d, want %d (body %s)", rec.Code, code, rec.Body)
	}
	if ct := rec.Result().Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("got Content-Type %q, want application/problem+json", ct)
	}
	var p httpapi.Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("decode problem %q: %v", rec.Body, err)
	}
	if p.Status != code {
		t.Errorf("got problem status %d, want %d", p.Status, code)
	}
	if !strings.HasSuffix(p.Type, "/"+typ) {
		t.Errorf("got problem type %q, want one ending in /%s", p.Type, typ)
	}
	if p.Title != http.StatusText(code) {
		t.Errorf("got problem title %q, want %q", p.Title, http.StatusText(code))
	}
	return p
}

// decodeJSON decodes rec's JSON body into a generic map, so tests check the
// wire names rather than the Go struct that produced them.
func decodeJSON(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := rec.Result().Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("got Content-Type %q, want application/json", ct)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("decode %q: %v", rec.Body, err)
	}
	return m
}

func eur(minor int64) *moneyv1.Money { return &moneyv1.Money{CurrencyCode: "EUR", MinorUnits: minor} }

// confirmed returns a confirmed order of customer with one line.
func confirmed(id, customer string) *orderv1.Order {
	at := timestamppb.New(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	return &orderv1.Order{
		Id: id, CustomerId: customer, Status: orderv1.OrderStatus_ORDER_STATUS_CONFIRMED,
		Lines:     []*orderv1.OrderLine{{ProductId: "p-1001", Quantity: 2, UnitPrice: eur(2490)}},
		Total:     eur(4980),
		CreatedAt: at, UpdatedAt: at,
	}
}
