package paysim_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/shopmesh/shopmesh/paysim"
)

// TestMain fails the package if a test leaves a server or client
// connection goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const apiKey = "key"

// sim is a simulator behind a loopback httptest server.
type sim struct {
	*paysim.Server
	srv *httptest.Server
}

// newSim starts a simulator; it stops when the test ends.
func newSim(t *testing.T, opts ...paysim.Option) *sim {
	t.Helper()
	s, err := paysim.New(apiKey, slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		t.Fatalf("paysim.New: %v", err)
	}
	srv := httptest.NewServer(s.Handler())
	// Cleanups run last first: release hung requests, drop the client's
	// idle connections, then stop the server.
	t.Cleanup(srv.Close)
	t.Cleanup(srv.Client().CloseIdleConnections)
	t.Cleanup(s.Close)
	return &sim{Server: s, srv: srv}
}

// response is what a test needs from an answer.
type response struct {
	status int
	header http.Header
	body   string
}

// do sends a request with the API key (unless header overrides
// Authorization) and returns the answer.
func (s *sim) do(t *testing.T, method, path string, header map[string]string, body string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

// charge posts a charge with an Idempotency-Key.
func (s *sim) charge(t *testing.T, key, body string) response {
	t.Helper()
	return s.do(t, http.MethodPost, "/v1/charges", map[string]string{"Idempotency-Key": key}, body)
}

// decode unmarshals an answer's body into a charge.
func decode(t *testing.T, r response) paysim.Charge {
	t.Helper()
	var c paysim.Charge
	if err := json.Unmarshal([]byte(r.body), &c); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
	return c
}

// wantStats fails the test unless the simulator counted the charges,
// declines and refunds of want.
func wantStats(t *testing.T, s *sim, want paysim.Stats) {
	t.Helper()
	got := s.Stats()
	if got.Charges != want.Charges || got.Declines != want.Declines || got.Refunds != want.Refunds {
		t.Errorf("got stats %+v, want charges %d, declines %d, refunds %d", got, want.Charges, want.Declines, want.Refunds)
	}
}

const body100 = `{"amount":100,"currency":"eur","source":"tok_visa"}`

func TestServer_Charge(t *testing.T) {
	t.Parallel()

	t.Run("same key and body replays the charge", func(t *testing.T) {
		t.Parallel()
		s := newSim(t)
		first := s.charge(t, "k1", body100)
		if first.status != http.StatusOK {
			t.Fatalf("got status %d (%s), want 200", first.status, first.body)
		}
		again := s.charge(t, "k1", body100)
		if again.status != http.StatusOK {
			t.Fatalf("repeat: got status %d (%s), want 200", again.status, again.body)
		}
		if got := again.header.Get("Idempotent-Replayed"); got != "true" {
			t.Errorf("repeat: got Idempotent-Replayed %q, want \"true\"", got)
		}
		c1, c2 := decode(t, first), decode(t, again)
		if c1.ID == "" || c1.ID != c2.ID {
			t.Errorf("got charge ids %q and %q, want one non-empty id", c1.ID, c2.ID)
		}
		if c1.Status != "succeeded" || c1.Amount != 100 || c1.Currency != "eur" {
			t.Errorf("got charge %+v, want 100 eur succeeded", c1)
		}
		wantStats(t, s, paysim.Stats{Charges: 1})
	})

	t.Run("same key with another body is a conflict", func(t *testing.T) {
		t.Parallel()
		s := newSim(t)
		s.charge(t, "k1", body100)
		r := s.charge(t, "k1", `{"amount":200,"currency":"eur","source":"tok_visa"}`)
		if r.status != http.StatusConflict {
			t.Errorf("got status %d (%s), want 409", r.status, r.body)
		}
		wantStats(t, s, paysim.Stats{Charges: 1})
	})

	t.Run("other keys make other charges", func(t *testing.T) {
		t.Parallel()
		s := newSim(t)
		c1, c2 := decode(t, s.charge(t, "k1", body100)), decode(t, s.charge(t, "k2", body100))
		if c1.ID == c2.ID {
			t.Errorf("got the same charge id %q for two keys, want two", c1.ID)
		}
		wantStats(t, s, paysim.Stats{Charges: 2})
	})

	t.Run("decline token", func(t *testing.T) {
		t.Parallel()
		s := newSim(t)
		r := s.charge(t, "k1", `{"amount":100,"currency":"eur","source":"`+paysim.DeclineToken+`"}`)
		if r.status != http.StatusPaymentRequired {
			t.Fatalf("got status %d (%s), want 402", r.status, r.body)
		}
		if c := decode(t, r); c.Status != "declined" || c.DeclineReason == "" {
			t.Errorf("got charge %+v, want declined with a reason", c)
		}
		wantStats(t, s, paysim.Stats{Declines: 1})
	})

	rejected := []struct {
		name   string
		header map[string]string
		body   string
		want   int
	}{
		{"missing idempotency key", nil, body100, http.StatusBadRequest},
		{"wrong api key", map[string]string{"Idempotency-Key": "k1", "Authorization": "Bearer nope"}, body100, http.StatusUnauthorized},
		{"no api key", map[string]string{"Idempotency-Key": "k1", "Authorization": ""}, body100, http.StatusUnauthorized},
		{"zero amount", map[string]string{"Idempotency-Key": "k1"}, `{"amount":0,"currency":"eur","source":"tok_visa"}`, http.StatusBadRequest},
		{"bad currency", map[string]string{"Idempotency-Key": "k1"}, `{"amount":100,"currency":"euro","source":"tok_visa"}`, http.StatusBadRequest},
		{"not json", map[string]string{"Idempotency-Key": "k1"}, `amount=100`, http.StatusBadRequest},
		{"invalid token", map[string]string{"Idempotency-Key": "k1"}, `{"amount":100,"currency":"eur","source":"` + paysim.InvalidToken + `"}`, http.StatusBadRequest},
	}
	for _, tt := range rejected {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSim(t)
			r := s.do(t, http.MethodPost, "/v1/charges", tt.header, tt.body)
			if r.status != tt.want {
				t.Errorf("got status %d (%s), want %d", r.status, r.body, tt.want)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("got Content-Type %q, want application/json", ct)
			}
			wantStats(t, s, paysim.Stats{})
		})
	}
}

func TestServer_FindCharge(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	created := decode(t, s.charge(t, "charge-ord-1", body100))

	t.Run("by idempotency key", func(t *testing.T) {
		t.Parallel()
		r := s.do(t, http.MethodGet, "/v1/charges?idempotency_key="+url.QueryEscape("charge-ord-1"), nil, "")
		if r.status != http.StatusOK {
			t.Fatalf("got status %d (%s), want 200", r.status, r.body)
		}
		if got := decode(t, r); got.ID != created.ID {
			t.Errorf("got charge %q, want %q", got.ID, created.ID)
		}
	})

	for _, tt := range []struct{ name, query string }{
		{"unknown key", "?idempotency_key=charge-ord-2"},
		{"empty key", "?idempotency_key="},
		{"no key", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := s.do(t, http.MethodGet, "/v1/charges"+tt.query, nil, "")
			if r.status != http.StatusNotFound {
				t.Errorf("got status %d (%s), want 404", r.status, r.body)
			}
		})
	}

	t.Run("by id", func(t *testing.T) {
		t.Parallel()
		r := s.do(t, http.MethodGet, "/v1/charges/"+created.ID, nil, "")
		if r.status != http.StatusOK {
			t.Fatalf("got status %d (%s), want 200", r.status, r.body)
		}
		if got := decode(t, r); got.ID != created.ID || got.Amount != 100 {
			t.Errorf("got charge %+v, want %q of 100", got, created.ID)
		}
	})

	t.Run("a declined charge is found, declined", func(t *testing.T) {
		t.Parallel()
		s := newSim(t)
		s.charge(t, "charge-ord-3", `{"amount":100,"currency":"eur","source":"`+paysim.DeclineToken+`"}`)
		r := s.do(t, http.MethodGet, "/v1/charges?idempotency_key=charge-ord-3", nil, "")
		if r.status != http.StatusOK {
			t.Fatalf("got status %d (%s), want 200", r.status, r.body)
		}
		if got := decode(t, r); got.Status != "declined" {
			t.Errorf("got charge %+v, want it declined", got)
		}
	})

	t.Run("a rejected request made no charge to find", func(t *testing.T) {
		t.Parallel()
		s := newSim(t)
		if r := s.charge(t, "charge-ord-4", `{"amount":0,"currency":"eur"}`); r.status != http.StatusBadRequest {
			t.Fatalf("got status %d, want 400", r.status)
		}
		if r := s.do(t, http.MethodGet, "/v1/charges?idempotency_key=charge-ord-4", nil, ""); r.status != http.StatusNotFound {
			t.Errorf("got status %d (%s), want 404", r.status, r.body)
		}
	})

	t.Run("finding needs the api key", func(t *testing.T) {
		t.Parallel()
		r := s.do(t, http.MethodGet, "/v1/charges?idempotency_key=charge-ord-1", map[string]string{"Authorization": "Bearer nope"}, "")
		if r.status != http.StatusUnauthorized {
			t.Errorf("got status %d, want 401", r.status)
		}
	})
}

func TestServer_Refund(t *testing.T) {
	t.Parallel()

	refund := func(t *testing.T, s *sim, key, chargeID string) response {
		t.Helper()
		return s.do(t, http.MethodPost, "/v1/refunds", map[string]string{"Idempotency-Key": key}, `{"charge":"`+chargeID+`"}`)
	}

	t.Run("refunds a charge once", func(t *testing.T) {
		t.Parallel()
		s := newSim(t)
		c := decode(t, s.charge(t, "k1", body100))
		for i, key := range []string{"r1", "r1", "r2"} {
			if r := refund(t, s, key, c.ID); r.status != http.StatusOK {
				t.Fatalf("refund #%d: got status %d (%s), want 200", i+1, r.status, r.body)
			}
		}
		wantStats(t, s, paysim.Stats{Charges: 1, Refunds: 1})
		r := s.do(t, http.MethodGet, "/v1/charges/"+c.ID, nil, "")
		if got := decode(t, r); !got.Refunded {
			t.Errorf("got charge %+v, want refunded", got)
		}
	})

	t.Run("a declined charge cannot be refunded", func(t *testing.T) {
		t.Parallel()
		s := newSim(t)
		c := decode(t, s.charge(t, "k1", `{"amount":100,"currency":"eur","source":"`+paysim.DeclineToken+`"}`))
		if r := refund(t, s, "r1", c.ID); r.status != http.StatusNotFound {
			t.Errorf("got status %d (%s), want 404", r.status, r.body)
		}
		wantStats(t, s, paysim.Stats{Declines: 1})
	})

	t.Run("unknown charge", func(t *testing.T) {
		t.Parallel()
		s := newSim(t)
		if r := refund(t, s, "r1", "ch_nope"); r.status != http.StatusNotFound {
			t.Errorf("got status %d (%s), want 404", r.status, r.body)
		}
	})

	t.Run("found by its idempotency key", func(t *testing.T) {
		t.Parallel()
		s := newSim(t)
		c := decode(t, s.charge(t, "k1", body100))
		refund(t, s, "refund-ord-1", c.ID)
		r := s.do(t, http.MethodGet, "/v1/refunds?idempotency_key=refund-ord-1", nil, "")
		if r.status != http.StatusOK {
			t.Fatalf("got status %d (%s), want 200", r.status, r.body)
		}
		var got paysim.Refund
		if err := json.Unmarshal([]byte(r.body), &got); err != nil {
			t.Fatalf("decode %q: %v", r.body, err)
		}
		if got.ID == "" || got.Charge != c.ID || got.Status != "succeeded" {
			t.Errorf("got refund %+v, want a succeeded refund of %s", got, c.ID)
		}
		for _, q := range []string{"?idempotency_key=refund-ord-2", "?idempotency_key=k1", ""} {
			if r := s.do(t, http.MethodGet, "/v1/refunds"+q, nil, ""); r.status != http.StatusNotFound {
				t.Errorf("GET /v1/refunds%s: got status %d, want 404", q, r.status)
			}
		}
	})

	t.Run("refund keys do not collide with charge keys", func(t *testing.T) {
		t.Parallel()
		s := newSim(t)
		c := decode(t, s.charge(t, "same", body100))
		if r := refund(t, s, "same", c.ID); r.status != http.StatusOK {
			t.Errorf("got status %d (%s), want 200", r.status, r.body)
		}
	})
}

func TestServer_Stats(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	s.charge(t, "k1", body100)
	// Stats need no api key: tests and dashboards read them.
	r := s.do(t, http.MethodGet, "/v1/stats", map[string]string{"Authorization": ""}, "")
	if r.status != http.StatusOK {
		t.Fatalf("got status %d, want 200", r.status)
	}
	var got paysim.Stats
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatalf("decode stats %q: %v", r.body, err)
	}
	if want := (paysim.Stats{Requests: 1, Charges: 1}); got != want {
		t.Errorf("got stats %+v, want %+v", got, want)
	}
}

func TestServer_ListCharges(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	s.charge(t, "charge-ord-1", body100)
	s.charge(t, "charge-ord-2", `{"amount":100,"currency":"eur","source":"tok_decline"}`)
	s.charge(t, "charge-ord-1", body100) // a replay makes no second charge
	if r := s.do(t, http.MethodGet, "/admin/charges", map[string]string{"Authorization": "Bearer wrong"}, ""); r.status != http.StatusUnauthorized {
		t.Errorf("without the API key: got %d, want 401", r.status)
	}
	r := s.do(t, http.MethodGet, "/admin/charges", nil, "")
	var list struct {
		Charges []paysim.ChargeRecord `json:"charges"`
	}
	if err := json.Unmarshal([]byte(r.body), &list); err != nil || r.status != http.StatusOK {
		t.Fatalf("GET /admin/charges: %d %s (%v)", r.status, r.body, err)
	}
	if len(list.Charges) != 2 || list.Charges[0].IdempotencyKey != "charge-ord-1" || list.Charges[0].Status != "succeeded" ||
		list.Charges[1].IdempotencyKey != "charge-ord-2" || list.Charges[1].Status != "declined" {
		t.Errorf("got %+v, want ord-1 succeeded and ord-2 declined, once each", list.Charges)
	}
}
