package pspclient_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shopmesh/shopmesh/payment/internal/payment"
	"github.com/shopmesh/shopmesh/payment/internal/pspclient"
	"github.com/shopmesh/shopmesh/paysim"
	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
)

// TestMain fails the package if a test leaves a pooled connection behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newClient returns a pspclient for the TLS server srv, on a client made by
// httpclient.New (with opts) that trusts srv's certificate.
func newClient(t *testing.T, srv *httptest.Server, apiKey string, opts ...func(*httpclient.Options)) *pspclient.Client {
	t.Helper()
	o := httpclient.Options{Name: "psp", TLSConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig}
	for _, f := range opts {
		f(&o)
	}
	hc, err := httpclient.New(o)
	if err != nil {
		t.Fatalf("httpclient.New: %v", err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	c, err := pspclient.New(hc, srv.URL, apiKey)
	if err != nil {
		t.Fatalf("pspclient.New: %v", err)
	}
	return c
}

// newSim starts the simulator over TLS with API key "key".
func newSim(t *testing.T, opts ...paysim.Option) (*paysim.Server, *httptest.Server) {
	t.Helper()
	sim, err := paysim.New("key", slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		t.Fatalf("paysim.New: %v", err)
	}
	srv := httptest.NewTLSServer(sim.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(sim.Close) // runs first: releases hung requests
	return sim, srv
}

// fixed serves status and body to every request.
func fixed(t *testing.T, status int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

var eur = payment.Money{Currency: "EUR", Minor: 1234}

func TestNew(t *testing.T) {
	t.Parallel()
	hc, err := httpclient.New(httpclient.Options{Name: "psp"})
	if err != nil {
		t.Fatalf("httpclient.New: %v", err)
	}
	tests := []struct {
		name    string
		hc      *http.Client
		baseURL string
	}{
		{"nil client", nil, "https://psp.example"},
		{"no scheme", hc, "psp.example"},
		{"other scheme", hc, "ftp://psp.example"},
		{"no host", hc, "https://"},
		{"unparsable", hc, "https://%zz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := pspclient.New(tt.hc, tt.baseURL, "key"); err == nil {
				t.Errorf("New(%q) returned no error", tt.baseURL)
			}
		})
	}
}

func TestClient_Charge(t *testing.T) {
	t.Parallel()

	t.Run("succeeded, and the same key gives the same charge", func(t *testing.T) {
		t.Parallel()
		sim, srv := newSim(t)
		c := newClient(t, srv, "key")
		first, err := c.Charge(context.Background(), "charge-ord-1", eur, "tok_visa")
		if err != nil {
			t.Fatalf("Charge: %v", err)
		}
		if first.ID == "" || first.Declined {
			t.Errorf("got %+v, want a succeeded charge with an id", first)
		}
		again, err := c.Charge(context.Background(), "charge-ord-1", eur, "tok_visa")
		if err != nil {
			t.Fatalf("repeat Charge: %v", err)
		}
		if again.ID != first.ID {
			t.Errorf("repeat got charge %q, want %q", again.ID, first.ID)
		}
		if got := sim.Stats().Charges; got != 1 {
			t.Errorf("got %d charges at the provider, want 1", got)
		}
	})

	t.Run("declined is an answer, not an error", func(t *testing.T) {
		t.Parallel()
		sim, srv := newSim(t)
		ch, err := newClient(t, srv, "key").Charge(context.Background(), "charge-ord-1", eur, paysim.DeclineToken)
		if err != nil {
			t.Fatalf("Charge: %v", err)
		}
		if !ch.Declined || ch.DeclineReason != "card_declined" || ch.ID == "" {
			t.Errorf("got %+v, want declined with reason card_declined and an id", ch)
		}
		if got := sim.Stats(); got.Declines != 1 || got.Charges != 0 {
			t.Errorf("got stats %+v, want one decline", got)
		}
	})

	t.Run("a refused request is a RejectedError", func(t *testing.T) {
		t.Parallel()
		sim, srv := newSim(t)
		_, err := newClient(t, srv, "key").Charge(context.Background(), "charge-ord-1", eur, paysim.InvalidToken)
		var rej *payment.RejectedError
		if !errors.As(err, &rej) || rej.Status != http.StatusBadRequest || !strings.Contains(rej.Reason, "invalid_source") {
			t.Fatalf("got error %v, want a RejectedError 400 with the provider's reason", err)
		}
		if got := sim.Stats(); got.Charges != 0 || got.Declines != 0 {
			t.Errorf("got stats %+v, want nothing charged", got)
		}
	})

	t.Run("wrong api key is not a final answer", func(t *testing.T) {
		t.Parallel()
		sim, srv := newSim(t)
		_, err := newClient(t, srv, "wrong").Charge(context.Background(), "charge-ord-1", eur, "tok_visa")
		var rej *payment.RejectedError
		if err == nil || errors.As(err, &rej) || !strings.Contains(err.Error(), "401") {
			t.Errorf("got error %v, want an unknown-outcome error naming the 401", err)
		}
		if got := sim.Stats(); got.Charges != 0 {
			t.Errorf("got stats %+v, want nothing done", got)
		}
	})

	t.Run("sends the request the provider expects", func(t *testing.T) {
		t.Parallel()
		var (
			mu  sync.Mutex
			got *http.Request
			raw string
		)
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			got, raw = r.Clone(context.Background()), string(b)
			mu.Unlock()
			_, _ = io.WriteString(w, `{"id":"ch_1","status":"succeeded"}`)
		}))
		t.Cleanup(srv.Close)
		if _, err := newClient(t, srv, "sekrit").Charge(context.Background(), "charge-ord-9", eur, "tok_visa"); err != nil {
			t.Fatalf("Charge: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		checks := []struct{ what, got, want string }{
			{"method", got.Method, http.MethodPost},
			{"path", got.URL.Path, "/v1/charges"},
			{"Idempotency-Key", got.Header.Get("Idempotency-Key"), "charge-ord-9"},
			{"Authorization", got.Header.Get("Authorization"), "Bearer sekrit"},
			{"Content-Type", got.Header.Get("Content-Type"), "application/json"},
			{"body", raw, `{"amount":1234,"currency":"eur","source":"tok_visa"}`},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("got %s %q, want %q", c.what, c.got, c.want)
			}
		}
	})

	// Answers that leave the outcome unknown must be plain errors, never a
	// charge the caller would record nor a rejection it would settle on.
	unknown := []struct {
		name   string
		status int
		body   string
	}{
		{"server error", http.StatusInternalServerError, `{"error":"boom"}`},
		{"conflict", http.StatusConflict, `{"error":"Idempotency-Key reused with a different body"}`},
		{"too many requests", http.StatusTooManyRequests, `{"error":"slow down"}`},
		{"forbidden", http.StatusForbidden, `{"error":"no"}`},
		{"unexpected status field", http.StatusOK, `{"id":"ch_1","status":"pending"}`},
		{"no id", http.StatusOK, `{"status":"succeeded"}`},
		{"not json", http.StatusOK, `<html>`},
	}
	for _, tt := range unknown {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := fixed(t, tt.status, tt.body)
			ch, err := newClient(t, srv, "key").Charge(context.Background(), "charge-ord-1", eur, "tok_visa")
			var rej *payment.RejectedError
			if err == nil || errors.As(err, &rej) {
				t.Errorf("got charge %+v and error %v, want an unknown-outcome error", ch, err)
			}
		})
	}

	t.Run("a cancelled context stops the call", func(t *testing.T) {
		t.Parallel()
		_, srv := newSim(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := newClient(t, srv, "key").Charge(ctx, "charge-ord-1", eur, "tok_visa")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got error %v, want context.Canceled", err)
		}
	})

	t.Run("a lost answer is retried with the same key: one charge", func(t *testing.T) {
		t.Parallel()
		sim, srv := newSim(t, paysim.WithSeed(3), paysim.WithFaults(paysim.Faults{DropRate: 0.5}))
		c := newClient(t, srv, "key", func(o *httpclient.Options) {
			o.Retry = &httpclient.RetryOptions{MaxAttempts: 20, Backoff: time.Millisecond}
		})
		for i := range 5 {
			if _, err := c.Charge(context.Background(), "charge-ord-1", eur, "tok_visa"); err != nil {
				t.Fatalf("Charge #%d: %v", i+1, err)
			}
		}
		if got := sim.Stats(); got.Charges != 1 || got.Drops == 0 {
			t.Errorf("got stats %+v, want answers dropped and one charge", got)
		}
	})

	t.Run("an open circuit is ErrProviderDown", func(t *testing.T) {
		t.Parallel()
		srv := fixed(t, http.StatusBadGateway, `{"error":"down"}`)
		c := newClient(t, srv, "key", func(o *httpclient.Options) {
			o.Breaker = &httpclient.BreakerOptions{FailureRatio: 1, MinAttempts: 1, OpenTimeout: time.Hour}
		})
		if _, err := c.Charge(context.Background(), "charge-ord-1", eur, "tok_visa"); err == nil || errors.Is(err, payment.ErrProviderDown) {
			t.Fatalf("first call: got %v, want the provider's 502", err)
		}
		_, err := c.Charge(context.Background(), "charge-ord-1", eur, "tok_visa")
		if !errors.Is(err, payment.ErrProviderDown) || !errors.Is(err, httpclient.ErrCircuitOpen) {
			t.Errorf("got %v, want ErrProviderDown wrapping ErrCircuitOpen", err)
		}
	})
}

func TestClient_FindCharge(t *testing.T) {
	t.Parallel()
	_, srv := newSim(t)
	c := newClient(t, srv, "key")
	ch, err := c.Charge(context.Background(), "charge-ord-1", eur, "tok_visa")
	if err != nil {
		t.Fatalf("Charge: %v", err)
	}
	declined, err := c.Charge(context.Background(), "charge-ord-2", eur, paysim.DeclineToken)
	if err != nil {
		t.Fatalf("Charge: %v", err)
	}

	if got, err := c.FindCharge(context.Background(), "charge-ord-1"); err != nil || got != ch {
		t.Errorf("got %+v, %v; want %+v", got, err, ch)
	}
	if got, err := c.FindCharge(context.Background(), "charge-ord-2"); err != nil || got != declined {
		t.Errorf("got %+v, %v; want the declined %+v", got, err, declined)
	}
	if _, err := c.FindCharge(context.Background(), "charge-ord-3"); !errors.Is(err, payment.ErrNotFound) {
		t.Errorf("unknown key: got %v, want ErrNotFound", err)
	}
	if _, err := newClient(t, fixed(t, http.StatusServiceUnavailable, ""), "key").FindCharge(context.Background(), "charge-ord-1"); err == nil || errors.Is(err, payment.ErrNotFound) {
		t.Errorf("503: got %v, want an unknown-outcome error", err)
	}
}

func TestClient_Refund(t *testing.T) {
	t.Parallel()
	sim, srv := newSim(t)
	c := newClient(t, srv, "key")
	ch, err := c.Charge(context.Background(), "charge-ord-1", eur, "tok_visa")
	if err != nil {
		t.Fatalf("Charge: %v", err)
	}
	var first payment.Refund
	for i := range 2 {
		r, err := c.Refund(context.Background(), "refund-ord-1", ch.ID)
		if err != nil {
			t.Fatalf("Refund #%d: %v", i+1, err)
		}
		if i == 0 {
			first = r
		}
		if r.ID == "" || r != first {
			t.Errorf("Refund #%d got %+v, want %+v with an id", i+1, r, first)
		}
	}
	if got := sim.Stats().Refunds; got != 1 {
		t.Errorf("got %d refunds at the provider, want 1", got)
	}
	if got, err := c.FindRefund(context.Background(), "refund-ord-1"); err != nil || got != first {
		t.Errorf("FindRefund: got %+v, %v; want %+v", got, err, first)
	}
	if _, err := c.FindRefund(context.Background(), "refund-ord-2"); !errors.Is(err, payment.ErrNotFound) {
		t.Errorf("FindRefund of an unknown key: got %v, want ErrNotFound", err)
	}
	_, err = c.Refund(context.Background(), "refund-ord-2", "ch_nope")
	var rej *payment.RejectedError
	if !errors.As(err, &rej) || rej.Status != http.StatusNotFound {
		t.Errorf("refund of an unknown charge: got %v, want a RejectedError 404", err)
	}
}
