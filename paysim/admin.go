package paysim

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// ChargeRecord is a charge with the Idempotency-Key it was made with, as
// GET /admin/charges lists it.
type ChargeRecord struct {
	IdempotencyKey string `json:"idempotency_key"`
	Charge
}

// Charges returns every charge made (declined attempts included), with its
// key, in the order they were made.
func (s *Server) Charges() []ChargeRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ChargeRecord
	for k, e := range s.idem {
		if key, ok := strings.CutPrefix(k, "charge/"); ok && e.id != "" {
			out = append(out, ChargeRecord{IdempotencyKey: key, Charge: *s.charges[e.id]})
		}
	}
	slices.SortFunc(out, func(a, b ChargeRecord) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (s *Server) listCharges(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"charges": s.Charges()})
}

func (s *Server) getStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

func (s *Server) getFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Faults())
}

func (s *Server) setFaults(w http.ResponseWriter, r *http.Request) {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	var f Faults
	if err := dec.Decode(&f); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want a JSON Faults object: " + err.Error()})
		return
	}
	if err := s.SetFaults(f); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	s.logger.InfoContext(r.Context(), "paysim faults set", "latency", time.Duration(f.Latency), "hang_rate", f.HangRate,
		"error_rate", f.ErrorRate, "drop_rate", f.DropRate, "answer_latency", time.Duration(f.AnswerLatency))
	writeJSON(w, http.StatusOK, f)
}

func (s *Server) reset(w http.ResponseWriter, r *http.Request) {
	s.Reset()
	s.logger.InfoContext(r.Context(), "paysim reset")
	writeJSON(w, http.StatusOK, s.Stats())
}
