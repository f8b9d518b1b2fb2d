package paysim

import (
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
)

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
	s.rng = rand.New(rand.NewPCG(s.seed, s.seed)) //nolint:gosec // G404: seeded dice, so a fault run can be repeated
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

// auth checks the API key of the admin routes that change state.
func (s *Server) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.apiKey != "" && r.Header.Get("Authorization") != "Bearer "+s.apiKey {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid api key"})
			return
		}
		next(w, r)
	}
}
