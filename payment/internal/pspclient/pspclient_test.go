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

	"go.uber.org/goleak"

	"github.com/shopmesh/shopmesh/payment/internal/payment"
	"github.com/shopmesh/shopmesh/payment/internal/paysim"
	"github.com/shopmesh/shopmesh/payment/internal/pspclient"
	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
)

// TestMain fails the package if a test leaves a pooled connection behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newClient returns a pspclient for the TLS server srv, on a client made by
// httpclient.New that trusts srv's certificate.
func newClient(t *testing.T, srv *httptest.Server, apiKey string) *pspclient.Client {
	t.Helper()
	tlsConfig := srv.Client().Transport.(*http.Transport).TLSClientConfig
	hc, err := httpclient.New(httpclient.Options{Name: "psp", TLSConfig: tlsConfig})
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
func newSim(t *testing.T) (*paysim.Server, *httptest.Server) {
	t.Helper()
	sim := paysim.New("key", slog.New(slog.DiscardHandler))
	srv := httptest.NewTLSServer(sim.Handler())
	t.Cleanup(srv.Close)
	return sim, srv
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
		if got := sim.Stats(); got != (paysim.Stats{Declines: 1}) {
			t.Errorf("got stats %+v, want one decline", got)
		}
	})

	t.Run("wrong api key", func(t *testing.T) {
		t.Parallel()
		sim, srv := newSim(t)
		_, err := newClient(t, srv, "wrong").Charge(context.Background(), "charge-ord-1", eur, "tok_visa")
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("got error %v, want one naming the 401", err)
		}
		if got := sim.Stats(); got != (paysim.Stats{}) {
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

	// Answers that leave the outcome unknown must be errors, never a
	// charge the caller would record.
	unknown := []struct {
		name   string
		status int
		body   string
	}{
		{"server error", http.StatusInternalServerError, `{"error":"boom"}`},
		{"conflict", http.StatusConflict, `{"error":"Idempotency-Key reused with a different body"}`},
		{"unexpected status field", http.StatusOK, `{"id":"ch_1","status":"pending"}`},
		{"not json", http.StatusOK, `<html>`},
	}
	for _, tt := range unknown {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			t.Cleanup(srv.Close)
			ch, err := newClient(t, srv, "key").Charge(context.Background(), "charge-ord-1", eur, "tok_visa")
			if err == nil {
				t.Errorf("got charge %+v and no error, want an error", ch)
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
}

func TestClient_Refund(t *testing.T) {
	t.Parallel()
	sim, srv := newSim(t)
	c := newClient(t, srv, "key")
	ch, err := c.Charge(context.Background(), "charge-ord-1", eur, "tok_visa")
	if err != nil {
		t.Fatalf("Charge: %v", err)
	}
	for i := range 2 {
		if err := c.Refund(context.Background(), "refund-ord-1", ch.ID); err != nil {
			t.Fatalf("Refund #%d: %v", i+1, err)
		}
	}
	if got := sim.Stats().Refunds; got != 1 {
		t.Errorf("got %d refunds at the provider, want 1", got)
	}
	if err := c.Refund(context.Background(), "refund-ord-2", "ch_nope"); err == nil {
		t.Error("refund of an unknown charge returned no error")
	}
}
