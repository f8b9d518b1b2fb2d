// Package paysim is a payment-provider simulator with a Stripe-like API. It
// stands in for the external provider in development and tests; it is a
// separate program (cmd/paysim), not part of the payment service.
//
// It honours Idempotency-Key the way real providers do (same key and body:
// the same charge; same key, other body: 409), lets a client that lost an
// answer look a charge or refund up by the key it sent, and counts what it
// did, so tests can assert that an order was charged exactly once.
//
// # API
//
//	POST /v1/charges                       {amount, currency, source}; Idempotency-Key required.
//	                                       200 charge, 402 declined charge (source tok_decline),
//	                                       400 (invalid body, or source tok_invalid), 409
//	GET  /v1/charges/{id}                  the charge
//	GET  /v1/charges?idempotency_key=K     the charge created with key K, 404 if none
//	POST /v1/refunds                       {charge}; Idempotency-Key required. 200 refund, 404 no such charge
//	GET  /v1/refunds?idempotency_key=K     the refund created with key K, 404 if none
//	GET  /v1/stats                         counters (no API key needed)
//	GET  /admin/faults, POST /admin/faults the faults in force (JSON, see Faults)
//	GET  /admin/charges                    every charge, with the Idempotency-Key it was made with
//	POST /admin/reset                      forget every charge, refund and counter; no faults
//
// The /v1 routes except stats, and the POST admin routes, need
// "Authorization: Bearer <api key>" when the simulator has one.
//
// # Faults
//
// The simulator misbehaves on purpose, as configured at start-up by these
// environment variables (read by [FaultsFromEnv]) or at run time through
// POST /admin/faults with the JSON names in brackets. Rates are shares of
// requests between 0 and 1; each request rolls its own dice, from a
// generator seeded with PAYSIM_SEED (or [WithSeed]), so a run is
// reproducible. Faults apply to the API requests (/v1/charges…, /v1/refunds…),
// in this order:
//
//   - PAYSIM_LATENCY ("latency", e.g. "150ms"): wait this long before
//     handling each request.
//   - PAYSIM_HANG_RATE ("hang_rate"): hold the request without answering
//     until the client gives up (or the simulator stops); nothing is done.
//     Use it to push a client past its timeout.
//   - PAYSIM_ERROR_RATE ("error_rate"): answer 500 at once; nothing is done.
//   - PAYSIM_ANSWER_LATENCY ("answer_latency"): for POST /v1/charges and
//     /v1/refunds, do the work, then wait this long before answering (or
//     dropping the answer): the money moves at once and the client learns it
//     late, so a test can act in between, e.g. kill the caller after the
//     charge is made and before it is recorded.
//   - PAYSIM_DROP_RATE ("drop_rate"): for POST /v1/charges and /v1/refunds,
//     do the work (the charge or refund is recorded and counted), then
//     close the connection without an answer: the client cannot know the
//     outcome and must look it up by its Idempotency-Key.
//
// Every fault that fires is counted in [Stats].
package paysim

import (
	"bytes"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
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

// Stats counts what the simulator did.
type Stats struct {
	Requests int `json:"requests"` // API requests received, faulty ones included
	Charges  int `json:"charges"`  // succeeded charges created
	Declines int `json:"declines"` // declined attempts
	Refunds  int `json:"refunds"`  // charges refunded
	Errors   int `json:"errors"`   // injected 500s
	Hangs    int `json:"hangs"`    // requests held without an answer
	Drops    int `json:"drops"`    // requests done, then answered by a closed connection
}

// Duration is a time.Duration written in JSON as a Go duration string.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string such as \"150ms\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Faults is what the simulator does wrong on purpose (see the package doc).
// The zero value is a well-behaved provider.
type Faults struct {
	Latency       Duration `json:"latency"`
	HangRate      float64  `json:"hang_rate"`
	ErrorRate     float64  `json:"error_rate"`
	DropRate      float64  `json:"drop_rate"`
	AnswerLatency Duration `json:"answer_latency"`
}

// Validate reports a fault setting that makes no sense.
func (f Faults) Validate() error {
	var errs []error
	if f.Latency < 0 {
		errs = append(errs, fmt.Errorf("latency %v is negative", time.Duration(f.Latency)))
	}
	if f.AnswerLatency < 0 {
		errs = append(errs, fmt.Errorf("answer_latency %v is negative", time.Duration(f.AnswerLatency)))
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"hang_rate", f.HangRate}, {"error_rate", f.ErrorRate}, {"drop_rate", f.DropRate}} {
		if !(r.v >= 0 && r.v <= 1) { // also catches NaN
			errs = append(errs, fmt.Errorf("%s %v is not in [0, 1]", r.name, r.v))
		}
	}
	return errors.Join(errs...)
}

// FaultsFromEnv reads PAYSIM_LATENCY, PAYSIM_ANSWER_LATENCY,
// PAYSIM_HANG_RATE, PAYSIM_ERROR_RATE and PAYSIM_DROP_RATE; unset means no
// such fault.
func FaultsFromEnv(getenv func(string) string) (Faults, error) {
	var f Faults
	var errs []error
	for _, d := range []struct {
		env string
		dst *Duration
	}{{"PAYSIM_LATENCY", &f.Latency}, {"PAYSIM_ANSWER_LATENCY", &f.AnswerLatency}} {
		if s := getenv(d.env); s != "" {
			v, err := time.ParseDuration(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", d.env, err))
			}
			*d.dst = Duration(v)
		}
	}
	for _, r := range []struct {
		env string
		dst *float64
	}{{"PAYSIM_HANG_RATE", &f.HangRate}, {"PAYSIM_ERROR_RATE", &f.ErrorRate}, {"PAYSIM_DROP_RATE", &f.DropRate}} {
		s := getenv(r.env)
		if s == "" {
			continue
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || !(v >= 0 && v <= 1) {
			errs = append(errs, fmt.Errorf("%s=%q: want a number in [0, 1]", r.env, s))
		}
		*r.dst = v
	}
	if err := errors.Join(errs...); err != nil {
		return Faults{}, err
	}
	return f, nil
}

type idemEntry struct {
	bodyHash [32]byte
	status   int
	body     []byte
	id       string // the charge or refund made, if any
}

// Option configures New.
type Option func(*Server)

// WithFaults starts the simulator with faults in force.
func WithFaults(f Faults) Option { return func(s *Server) { s.faults = f } }

// WithSeed seeds the dice that decide which requests a fault hits
// (default 1). /admin/reset starts the sequence again.
func WithSeed(seed uint64) Option { return func(s *Server) { s.seed = seed } }

// Server is the simulator's HTTP handler.
type Server struct {
	apiKey string
	logger *slog.Logger
	seed   uint64

	stopOnce sync.Once
	stop     chan struct{} // closed by Close: releases hung requests

	mu      sync.Mutex
	faults  Faults
	rng     *rand.Rand
	charges map[string]*Charge
	refunds map[string]*Refund
	idem    map[string]idemEntry // by endpoint + Idempotency-Key
	stats   Stats
	seq     int
	// epoch is random per reset and part of every charge id: a restarted
	// (or reset) simulator never hands out an id it gave before, as a real
	// provider would not; payment keeps provider ids unique.
	epoch string
}

// New returns a simulator. A non-empty apiKey must be sent as a bearer token.
// Invalid faults given with WithFaults are an error.
func New(apiKey string, logger *slog.Logger, opts ...Option) (*Server, error) {
	s := &Server{apiKey: apiKey, logger: logger, seed: 1, stop: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	if logger == nil {
		return nil, errors.New("paysim: nil logger")
	}
	if err := s.faults.Validate(); err != nil {
		return nil, fmt.Errorf("paysim: faults: %w", err)
	}
	s.resetLocked()
	return s, nil
}

// resetLocked forgets everything but the faults and restarts the dice.
func (s *Server) resetLocked() {
	s.rng = rand.New(rand.NewPCG(s.seed, s.seed))
	s.charges = map[string]*Charge{}
	s.refunds = map[string]*Refund{}
	s.idem = map[string]idemEntry{}
	s.stats = Stats{}
	s.seq = 0
	var b [4]byte
	_, _ = crand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	s.epoch = hex.EncodeToString(b[:])
}

// Close releases the requests a hang holds; later hangs end at once. Call
// it before shutting the HTTP server down, which waits for its handlers.
func (s *Server) Close() { s.stopOnce.Do(func() { close(s.stop) }) }

// Handler returns the simulator's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/charges", s.api(s.idempotent("charge", s.createCharge)))
	mux.HandleFunc("GET /v1/charges/{id}", s.api(s.getCharge))
	mux.HandleFunc("GET /v1/charges", s.api(s.findCharge))
	mux.HandleFunc("POST /v1/refunds", s.api(s.idempotent("refund", s.createRefund)))
	mux.HandleFunc("GET /v1/refunds", s.api(s.findRefund))
	mux.HandleFunc("GET /v1/stats", s.getStats)
	mux.HandleFunc("GET /admin/faults", s.getFaults)
	mux.HandleFunc("POST /admin/faults", s.auth(s.setFaults))
	mux.HandleFunc("GET /admin/charges", s.auth(s.listCharges))
	mux.HandleFunc("POST /admin/reset", s.auth(s.reset))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	return mux
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Faults returns the faults in force.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// SetFaults replaces the faults in force; requests already held by a hang
// stay held until their client gives up.
func (s *Server) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	return nil
}

// Reset forgets every charge, refund, key and counter, clears the faults
// and restarts the dice from the seed.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
	s.faults = Faults{}
}

// rollLocked reports whether a fault with the given rate hits this request.
func (s *Server) rollLocked(rate float64) bool {
	switch {
	case rate <= 0:
		return false
	case rate >= 1:
		return true
	}
	return s.rng.Float64() < rate
}

// api counts an API request, applies the faults that strike before any
// work is done, and checks the API key.
func (s *Server) api(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// Read the body first: the server notices a client that hangs up
		// (and cancels r.Context) only once the body has been consumed.
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unreadable body"})
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))

		s.mu.Lock()
		s.stats.Requests++
		f := s.faults
		hang := s.rollLocked(f.HangRate)
		fail := !hang && s.rollLocked(f.ErrorRate)
		switch {
		case hang:
			s.stats.Hangs++
		case fail:
			s.stats.Errors++
		}
		s.mu.Unlock()

		if f.Latency > 0 && !s.sleep(r, time.Duration(f.Latency)) {
			panic(http.ErrAbortHandler) // the client left or the simulator stops
		}
		if hang {
			s.logger.Info("paysim fault: hanging", "method", r.Method, "path", r.URL.Path)
			select {
			case <-r.Context().Done():
			case <-s.stop:
			}
			// Whoever is still there gets no answer, not an empty 200.
			panic(http.ErrAbortHandler)
		}
		if fail {
			s.logger.Info("paysim fault: 500", "method", r.Method, "path", r.URL.Path)
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "injected fault"})
			return
		}
		s.auth(next)(w, r)
	}
}

// sleep waits d, or less if the client leaves or the simulator stops; it
// reports whether the request should go on.
func (s *Server) sleep(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.stop:
		return false
	}
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
			s.logger.Info("paysim fault: dropping the answer", "kind", kind, "idempotency_key", key, "status", status)
			// Closes the connection (HTTP/1) or resets the stream (HTTP/2)
			// without a byte of answer, and without a logged stack trace.
			panic(http.ErrAbortHandler)
		}
		if replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		s.logger.Info("paysim request", "kind", kind, "idempotency_key", key, "status", status,
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
	s.logger.Info("paysim faults set", "latency", time.Duration(f.Latency), "hang_rate", f.HangRate,
		"error_rate", f.ErrorRate, "drop_rate", f.DropRate, "answer_latency", time.Duration(f.AnswerLatency))
	writeJSON(w, http.StatusOK, f)
}

func (s *Server) reset(w http.ResponseWriter, _ *http.Request) {
	s.Reset()
	s.logger.Info("paysim reset")
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
