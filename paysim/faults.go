package paysim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/settings"
)

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

// ReadFaults reads PAYSIM_LATENCY, PAYSIM_ANSWER_LATENCY,
// PAYSIM_HANG_RATE, PAYSIM_ERROR_RATE and PAYSIM_DROP_RATE; unset means no
// such fault.
func ReadFaults(s *settings.Reader) Faults {
	f := Faults{
		Latency:       Duration(s.Duration("PAYSIM_LATENCY", 0)),
		AnswerLatency: Duration(s.Duration("PAYSIM_ANSWER_LATENCY", 0)),
		HangRate:      s.Float("PAYSIM_HANG_RATE", 0),
		ErrorRate:     s.Float("PAYSIM_ERROR_RATE", 0),
		DropRate:      s.Float("PAYSIM_DROP_RATE", 0),
	}
	err := f.Validate()
	s.Check(err == nil, "PAYSIM_* faults: %v", err)
	return f
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
			s.logger.InfoContext(r.Context(), "paysim fault: hanging", "method", r.Method, "path", r.URL.Path)
			select {
			case <-r.Context().Done():
			case <-s.stop:
			}
			// Whoever is still there gets no answer, not an empty 200.
			panic(http.ErrAbortHandler)
		}
		if fail {
			s.logger.InfoContext(r.Context(), "paysim fault: 500", "method", r.Method, "path", r.URL.Path)
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
