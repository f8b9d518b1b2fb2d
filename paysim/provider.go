package paysim

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Test payment tokens. Any other token is charged.
const (
	// DeclineToken is always declined: 402 with a declined charge object.
	DeclineToken = "tok_decline"
	// InvalidToken is refused as a request error, not a decline: 400 and no
	// charge object, as a provider answers a malformed or unusable source.
	InvalidToken = "tok_invalid"
)

// maxBody bounds the request bodies the simulator reads.
const maxBody = 1 << 16

// Charge is the simulator's charge object.
type Charge struct {
	ID            string `json:"id"`
	Amount        int64  `json:"amount"`
	Currency      string `json:"currency"`
	Status        string `json:"status"` // succeeded, declined
	DeclineReason string `json:"decline_reason,omitempty"`
	Refunded      bool   `json:"refunded"`
}

// Refund is the simulator's refund object.
type Refund struct {
	ID     string `json:"id"`
	Charge string `json:"charge"`
	Status string `json:"status"` // succeeded
}

// outcome is what a create handler did: the answer, and the id of the
// charge or refund it made or found ("" if none).
type outcome struct {
	status int
	body   any
	id     string
}

// idempotent replays the stored answer for a known key and body, refuses a
// known key with another body, and stores the answer of a new request. With
// the drop fault, the work is done and the connection closed unanswered.
func (s *Server) idempotent(kind string, next func(body []byte) outcome) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if key == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "Idempotency-Key header is required"})
			return
		}
		body, err := io.ReadAll(r.Body) // already bounded by api
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unreadable body"})
			return
		}
		hash := sha256.Sum256(body)
		status, raw, replayed, drop := s.handleIdempotent(kind, key, hash, body, next)
		if d := time.Duration(s.Faults().AnswerLatency); d > 0 && !s.sleep(r, d) {
			return // the client gave up while the answer was on its way
		}
		if drop {
			s.logger.InfoContext(r.Context(), "paysim fault: dropping the answer", "kind", kind, "idempotency_key", key, "status", status)
			// Closes the connection (HTTP/1) or resets the stream (HTTP/2)
			// without a byte of answer, and without a logged stack trace.
			panic(http.ErrAbortHandler)
		}
		if replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		s.logger.InfoContext(r.Context(), "paysim request", "kind", kind, "idempotency_key", key, "status", status,
			"replayed", replayed, "traceparent", r.Header.Get("traceparent"))
		writeRaw(w, status, raw)
	}
}

func (s *Server) handleIdempotent(kind, key string, hash [32]byte, body []byte, next func([]byte) outcome) (status int, raw []byte, replayed, drop bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.idem[kind+"/"+key]; ok {
		if e.bodyHash != hash {
			raw, _ = json.Marshal(map[string]string{"error": "Idempotency-Key reused with a different body"})
			return http.StatusConflict, raw, false, false
		}
		status, raw, replayed = e.status, e.body, true
	} else {
		out := next(body)
		raw, _ = json.Marshal(out.body)
		status = out.status
		if status < 500 {
			s.idem[kind+"/"+key] = idemEntry{bodyHash: hash, status: status, body: raw, id: out.id}
		}
	}
	if s.rollLocked(s.faults.DropRate) {
		s.stats.Drops++
		drop = true
	}
	return status, raw, replayed, drop
}

// createCharge runs under s.mu (held by idempotent).
func (s *Server) createCharge(body []byte) outcome {
	var req struct {
		Amount   int64  `json:"amount"`
		Currency string `json:"currency"`
		Source   string `json:"source"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Amount <= 0 || len(req.Currency) != 3 {
		return outcome{status: http.StatusBadRequest, body: map[string]string{"error": "want {amount>0, currency (3 letters), source}"}}
	}
	if req.Source == InvalidToken {
		return outcome{status: http.StatusBadRequest, body: map[string]string{"error": "invalid_source: the payment method cannot be charged"}}
	}
	s.seq++
	c := &Charge{ID: fmt.Sprintf("ch_%s_%06d", s.epoch, s.seq), Amount: req.Amount, Currency: strings.ToLower(req.Currency), Status: "succeeded"}
	s.charges[c.ID] = c
	if req.Source == DeclineToken {
		c.Status, c.DeclineReason = "declined", "card_declined"
		s.stats.Declines++
		return outcome{status: http.StatusPaymentRequired, body: *c, id: c.ID}
	}
	s.stats.Charges++
	return outcome{status: http.StatusOK, body: *c, id: c.ID}
}

// createRefund runs under s.mu (held by idempotent). A charge is refunded
// in full at most once; a second refund (another key) returns the first.
func (s *Server) createRefund(body []byte) outcome {
	var req struct {
		Charge string `json:"charge"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Charge == "" {
		return outcome{status: http.StatusBadRequest, body: map[string]string{"error": "want {charge}"}}
	}
	c, ok := s.charges[req.Charge]
	if !ok || c.Status != "succeeded" {
		return outcome{status: http.StatusNotFound, body: map[string]string{"error": "no succeeded charge " + req.Charge}}
	}
	if !c.Refunded {
		c.Refunded = true
		s.stats.Refunds++
		s.refunds["re_"+c.ID] = &Refund{ID: "re_" + c.ID, Charge: c.ID, Status: "succeeded"}
	}
	rf := s.refunds["re_"+c.ID]
	return outcome{status: http.StatusOK, body: *rf, id: rf.ID}
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
// A declined charge is found too (status "declined").
func (s *Server) findCharge(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("idempotency_key")
	s.mu.Lock()
	var cp *Charge
	if e, ok := s.idem["charge/"+key]; ok && e.id != "" {
		c := *s.charges[e.id]
		cp = &c
	}
	s.mu.Unlock()
	if key == "" || cp == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no charge with that idempotency key"})
		return
	}
	writeJSON(w, http.StatusOK, cp)
}

// findRefund looks a refund up by the Idempotency-Key it was asked with.
func (s *Server) findRefund(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("idempotency_key")
	s.mu.Lock()
	var rp *Refund
	if e, ok := s.idem["refund/"+key]; ok && e.id != "" {
		rf := *s.refunds[e.id]
		rp = &rf
	}
	s.mu.Unlock()
	if key == "" || rp == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no refund with that idempotency key"})
		return
	}
	writeJSON(w, http.StatusOK, rp)
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
