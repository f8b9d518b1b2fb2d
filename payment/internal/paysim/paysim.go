// Package paysim is a payment-provider simulator with a Stripe-like API. It
// stands in for the external provider in development and tests; it is a
// separate program (cmd/paysim), not part of the payment service.
//
// It honours Idempotency-Key the way real providers do (same key and body:
// the same charge; same key, other body: 409) and counts charges, so tests
// can assert that an order was charged exactly once.
package paysim

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
)

// DeclineToken is the payment token that the simulator always declines.
const DeclineToken = "tok_decline"

// Charge is the simulator's charge object.
type Charge struct {
	ID            string `json:"id"`
	Amount        int64  `json:"amount"`
	Currency      string `json:"currency"`
	Status        string `json:"status"` // succeeded, declined
	DeclineReason string `json:"decline_reason,omitempty"`
	Refunded      bool   `json:"refunded"`
}

// Stats counts what the simulator did.
type Stats struct {
	Charges  int `json:"charges"`  // succeeded charges created
	Declines int `json:"declines"` // declined attempts
	Refunds  int `json:"refunds"`
}

type idemEntry struct {
	bodyHash [32]byte
	status   int
	body     []byte
}

// Server is the simulator's HTTP handler.
type Server struct {
	apiKey string
	logger *slog.Logger

	mu      sync.Mutex
	charges map[string]*Charge
	idem    map[string]idemEntry // by endpoint + Idempotency-Key
	stats   Stats
	seq     int
}

// New returns a simulator. A non-empty apiKey must be sent as a bearer token.
func New(apiKey string, logger *slog.Logger) *Server {
	return &Server{apiKey: apiKey, logger: logger, charges: map[string]*Charge{}, idem: map[string]idemEntry{}}
}

// Handler returns the simulator's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/charges", s.auth(s.idempotent("charge", s.createCharge)))
	mux.HandleFunc("GET /v1/charges/{id}", s.auth(s.getCharge))
	mux.HandleFunc("GET /v1/charges", s.auth(s.findCharge))
	mux.HandleFunc("POST /v1/refunds", s.auth(s.idempotent("refund", s.createRefund)))
	mux.HandleFunc("GET /v1/stats", s.getStats)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	return mux
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func (s *Server) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.apiKey != "" && r.Header.Get("Authorization") != "Bearer "+s.apiKey {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid api key"})
			return
		}
		next(w, r)
	}
}

// idempotent replays the stored answer for a known key and body, refuses a
// known key with another body, and stores the answer of a new request.
func (s *Server) idempotent(kind string, next func(body []byte) (int, any)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if key == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "Idempotency-Key header is required"})
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unreadable body"})
			return
		}
		hash := sha256.Sum256(body)
		s.mu.Lock()
		defer s.mu.Unlock()
		if e, ok := s.idem[kind+"/"+key]; ok {
			if e.bodyHash != hash {
				writeJSON(w, http.StatusConflict, map[string]string{"error": "Idempotency-Key reused with a different body"})
				return
			}
			w.Header().Set("Idempotent-Replayed", "true")
			writeRaw(w, e.status, e.body)
			return
		}
		status, out := next(body)
		raw, _ := json.Marshal(out)
		if status < 500 {
			s.idem[kind+"/"+key] = idemEntry{bodyHash: hash, status: status, body: raw}
		}
		s.logger.Info("paysim request", "kind", kind, "idempotency_key", key, "status", status, "traceparent", r.Header.Get("traceparent"))
		writeRaw(w, status, raw)
	}
}

// createCharge runs under s.mu (held by idempotent).
func (s *Server) createCharge(body []byte) (int, any) {
	var req struct {
		Amount   int64  `json:"amount"`
		Currency string `json:"currency"`
		Source   string `json:"source"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Amount <= 0 || len(req.Currency) != 3 {
		return http.StatusBadRequest, map[string]string{"error": "want {amount>0, currency (3 letters), source}"}
	}
	s.seq++
	c := &Charge{ID: fmt.Sprintf("ch_%06d", s.seq), Amount: req.Amount, Currency: strings.ToLower(req.Currency), Status: "succeeded"}
	s.charges[c.ID] = c
	if req.Source == DeclineToken {
		c.Status, c.DeclineReason = "declined", "card_declined"
		s.stats.Declines++
		return http.StatusPaymentRequired, c
	}
	s.stats.Charges++
	return http.StatusOK, c
}

func (s *Server) createRefund(body []byte) (int, any) {
	var req struct {
		Charge string `json:"charge"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return http.StatusBadRequest, map[string]string{"error": "want {charge}"}
	}
	c, ok := s.charges[req.Charge]
	if !ok || c.Status != "succeeded" {
		return http.StatusNotFound, map[string]string{"error": "no succeeded charge " + req.Charge}
	}
	if !c.Refunded {
		c.Refunded = true
		s.stats.Refunds++
	}
	return http.StatusOK, map[string]string{"id": "re_" + c.ID, "charge": c.ID, "status": "succeeded"}
}

func (s *Server) getCharge(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	c, ok := s.charges[r.PathValue("id")]
	var cp Charge
	if ok {
		cp = *c
	}
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such charge"})
		return
	}
	writeJSON(w, http.StatusOK, cp)
}

// findCharge looks a charge up by the Idempotency-Key it was created with,
// so a client that lost an answer can learn the outcome without charging.
func (s *Server) findCharge(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("idempotency_key")
	s.mu.Lock()
	e, ok := s.idem["charge/"+key]
	s.mu.Unlock()
	if key == "" || !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no charge with that idempotency key"})
		return
	}
	writeRaw(w, http.StatusOK, e.body)
}

func (s *Server) getStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	raw, _ := json.Marshal(v)
	writeRaw(w, status, raw)
}

func writeRaw(w http.ResponseWriter, status int, raw []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(raw)
	_, _ = w.Write([]byte("\n"))
}
