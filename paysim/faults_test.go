package paysim_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/settings"

	"github.com/shopmesh/shopmesh/paysim"
)

// try sends a request like do but returns a transport error instead of
// failing the test.
func (s *sim) try(ctx context.Context, method, path string, header map[string]string, body string) (response, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.srv.URL+path, strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(raw)}, err
}

func TestServer_Faults(t *testing.T) {
	t.Parallel()

	t.Run("latency delays every API request", func(t *testing.T) {
		t.Parallel()
		const latency = 150 * time.Millisecond
		s := newSim(t, paysim.WithFaults(paysim.Faults{Latency: paysim.Duration(latency)}))
		start := time.Now()
		if r := s.charge(t, "k1", body100); r.status != http.StatusOK {
			t.Fatalf("got status %d (%s), want 200", r.status, r.body)
		}
		if elapsed := time.Since(start); elapsed < latency {
			t.Errorf("answered after %v, want at least %v", elapsed, latency)
		}
		wantStats(t, s, paysim.Stats{Charges: 1})
	})

	t.Run("error rate 1 answers 500 and charges nothing", func(t *testing.T) {
		t.Parallel()
		s := newSim(t, paysim.WithFaults(paysim.Faults{ErrorRate: 1}))
		for range 3 {
			if r := s.charge(t, "k1", body100); r.status != http.StatusInternalServerError {
				t.Fatalf("got status %d (%s), want 500", r.status, r.body)
			}
		}
		if r := s.do(t, http.MethodGet, "/v1/charges?idempotency_key=k1", nil, ""); r.status != http.StatusInternalServerError {
			t.Errorf("lookup: got status %d, want 500: faults hit every API request", r.status)
		}
		if got := s.Stats(); got != (paysim.Stats{Requests: 4, Errors: 4}) {
			t.Errorf("got stats %+v, want 4 requests, 4 errors, nothing charged", got)
		}
		// The key was not used up by the failures.
		if err := s.SetFaults(paysim.Faults{}); err != nil {
			t.Fatal(err)
		}
		if r := s.charge(t, "k1", body100); r.status != http.StatusOK || r.header.Get("Idempotent-Replayed") != "" {
			t.Errorf("after the fault: got status %d replayed %q, want a fresh 200", r.status, r.header.Get("Idempotent-Replayed"))
		}
		wantStats(t, s, paysim.Stats{Charges: 1})
	})

	t.Run("hang holds the request until the client gives up, doing nothing", func(t *testing.T) {
		t.Parallel()
		s := newSim(t, paysim.WithFaults(paysim.Faults{HangRate: 1}))
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := s.try(ctx, http.MethodPost, "/v1/charges", map[string]string{"Idempotency-Key": "k1"}, body100)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got error %v, want the client's deadline", err)
		}
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Errorf("gave up after %v, want about 100ms", elapsed)
		}
		if got := s.Stats(); got != (paysim.Stats{Requests: 1, Hangs: 1}) {
			t.Errorf("got stats %+v, want one hang and nothing charged", got)
		}
	})

	t.Run("Close releases hung requests", func(t *testing.T) {
		t.Parallel()
		s := newSim(t, paysim.WithFaults(paysim.Faults{HangRate: 1}))
		time.AfterFunc(50*time.Millisecond, s.Close)
		r, err := s.try(t.Context(), http.MethodGet, "/v1/charges/ch_1", nil, "")
		if err == nil && r.status == http.StatusOK {
			t.Errorf("got status %d, want no answer", r.status)
		}
	})

	t.Run("answer latency charges at once and answers late", func(t *testing.T) {
		t.Parallel()
		const late = 300 * time.Millisecond
		s := newSim(t, paysim.WithFaults(paysim.Faults{AnswerLatency: paysim.Duration(late)}))
		answered := make(chan response, 1)
		go func() { answered <- s.charge(t, "k1", body100) }()
		// The charge is made long before the answer comes.
		deadline := time.Now().Add(5 * time.Second)
		for s.Stats().Charges == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		select {
		case r := <-answered:
			t.Fatalf("answered (%d) as soon as it charged, want %v later", r.status, late)
		default:
		}
		if r := <-answered; r.status != http.StatusOK {
			t.Errorf("got status %d (%s), want 200", r.status, r.body)
		}
		wantStats(t, s, paysim.Stats{Charges: 1})
	})

	t.Run("drop charges, then closes the connection unanswered", func(t *testing.T) {
		t.Parallel()
		s := newSim(t, paysim.WithFaults(paysim.Faults{DropRate: 1}))
		r, err := s.try(t.Context(), http.MethodPost, "/v1/charges", map[string]string{"Idempotency-Key": "charge-ord-1"}, body100)
		if err == nil {
			t.Fatalf("got status %d (%s), want no answer", r.status, r.body)
		}
		if got := s.Stats(); got.Charges != 1 || got.Drops < 1 {
			t.Errorf("got stats %+v, want the charge made once and the answer dropped", got)
		}
		// Lookups are not dropped: this is how the client learns the outcome.
		found := s.do(t, http.MethodGet, "/v1/charges?idempotency_key=charge-ord-1", nil, "")
		if c := decode(t, found); found.status != http.StatusOK || c.Status != "succeeded" {
			t.Errorf("lookup got %d %+v, want the succeeded charge", found.status, c)
		}
	})

	t.Run("drop refunds, then closes the connection unanswered", func(t *testing.T) {
		t.Parallel()
		s := newSim(t)
		c := decode(t, s.charge(t, "k1", body100))
		if err := s.SetFaults(paysim.Faults{DropRate: 1}); err != nil {
			t.Fatal(err)
		}
		if r, err := s.try(t.Context(), http.MethodPost, "/v1/refunds", map[string]string{"Idempotency-Key": "refund-ord-1"}, `{"charge":"`+c.ID+`"}`); err == nil {
			t.Fatalf("got status %d (%s), want no answer", r.status, r.body)
		}
		wantStats(t, s, paysim.Stats{Charges: 1, Refunds: 1})
		if r := s.do(t, http.MethodGet, "/v1/refunds?idempotency_key=refund-ord-1", nil, ""); r.status != http.StatusOK {
			t.Errorf("lookup got status %d (%s), want the refund", r.status, r.body)
		}
	})

	t.Run("the same seed gives the same faults", func(t *testing.T) {
		t.Parallel()
		run := func(seed uint64) []int {
			s := newSim(t, paysim.WithSeed(seed), paysim.WithFaults(paysim.Faults{ErrorRate: 0.5}))
			var statuses []int
			for range 32 {
				statuses = append(statuses, s.do(t, http.MethodGet, "/v1/charges/ch_1", nil, "").status)
			}
			return statuses
		}
		a, b := run(7), run(7)
		if !slices.Equal(a, b) {
			t.Errorf("seed 7 gave %v, then %v; want the same sequence", a, b)
		}
		if !slices.Contains(a, http.StatusInternalServerError) || !slices.Contains(a, http.StatusNotFound) {
			t.Errorf("got %v, want a mix of 500s and 404s at rate 0.5", a)
		}
	})

	t.Run("stats, health and admin routes are not faulty", func(t *testing.T) {
		t.Parallel()
		s := newSim(t, paysim.WithFaults(paysim.Faults{ErrorRate: 1}))
		for _, path := range []string{"/v1/stats", "/healthz", "/admin/faults"} {
			if r := s.do(t, http.MethodGet, path, nil, ""); r.status != http.StatusOK {
				t.Errorf("GET %s: got status %d, want 200", path, r.status)
			}
		}
	})
}

func TestServer_Admin(t *testing.T) {
	t.Parallel()

	t.Run("set and read faults", func(t *testing.T) {
		t.Parallel()
		s := newSim(t)
		r := s.do(t, http.MethodPost, "/admin/faults", nil, `{"latency":"20ms","error_rate":0.25,"hang_rate":0.1,"drop_rate":1}`)
		if r.status != http.StatusOK {
			t.Fatalf("got status %d (%s), want 200", r.status, r.body)
		}
		want := paysim.Faults{Latency: paysim.Duration(20 * time.Millisecond), ErrorRate: 0.25, HangRate: 0.1, DropRate: 1}
		if got := s.Faults(); got != want {
			t.Errorf("got faults %+v, want %+v", got, want)
		}
		var got paysim.Faults
		r = s.do(t, http.MethodGet, "/admin/faults", map[string]string{"Authorization": ""}, "")
		if err := json.Unmarshal([]byte(r.body), &got); err != nil || got != want {
			t.Errorf("GET /admin/faults: got %s (%v), want %+v", r.body, err, want)
		}
	})

	rejected := []struct {
		name, body string
		header     map[string]string
		want       int
	}{
		{"rate above 1", `{"error_rate":1.5}`, nil, http.StatusBadRequest},
		{"negative rate", `{"drop_rate":-0.1}`, nil, http.StatusBadRequest},
		{"negative latency", `{"latency":"-1s"}`, nil, http.StatusBadRequest},
		{"latency not a duration", `{"latency":150}`, nil, http.StatusBadRequest},
		{"unknown field", `{"error_rat":1}`, nil, http.StatusBadRequest},
		{"not json", `error_rate=1`, nil, http.StatusBadRequest},
		{"no api key", `{"error_rate":1}`, map[string]string{"Authorization": ""}, http.StatusUnauthorized},
	}
	for _, tt := range rejected {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSim(t)
			if r := s.do(t, http.MethodPost, "/admin/faults", tt.header, tt.body); r.status != tt.want {
				t.Errorf("got status %d (%s), want %d", r.status, r.body, tt.want)
			}
			if got := s.Faults(); got != (paysim.Faults{}) {
				t.Errorf("got faults %+v, want none set", got)
			}
		})
	}

	t.Run("reset forgets charges, counters and faults", func(t *testing.T) {
		t.Parallel()
		s := newSim(t)
		s.charge(t, "k1", body100)
		if err := s.SetFaults(paysim.Faults{Latency: paysim.Duration(time.Millisecond)}); err != nil {
			t.Fatal(err)
		}
		if r := s.do(t, http.MethodPost, "/admin/reset", map[string]string{"Authorization": ""}, ""); r.status != http.StatusUnauthorized {
			t.Errorf("reset without the api key: got status %d, want 401", r.status)
		}
		if r := s.do(t, http.MethodPost, "/admin/reset", nil, ""); r.status != http.StatusOK {
			t.Fatalf("got status %d (%s), want 200", r.status, r.body)
		}
		if got := s.Stats(); got != (paysim.Stats{}) {
			t.Errorf("got stats %+v after reset, want zero", got)
		}
		if got := s.Faults(); got != (paysim.Faults{}) {
			t.Errorf("got faults %+v after reset, want none", got)
		}
		if r := s.do(t, http.MethodGet, "/v1/charges?idempotency_key=k1", nil, ""); r.status != http.StatusNotFound {
			t.Errorf("lookup after reset: got status %d, want 404", r.status)
		}
	})
}

func TestNew_InvalidFaults(t *testing.T) {
	t.Parallel()
	if _, err := paysim.New(apiKey, slog.New(slog.DiscardHandler), paysim.WithFaults(paysim.Faults{HangRate: 2})); err == nil {
		t.Error("New with hang_rate 2 returned no error")
	}
	if _, err := paysim.New(apiKey, nil); err == nil {
		t.Error("New with a nil logger returned no error")
	}
}

func TestReadFaults(t *testing.T) {
	t.Parallel()
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

	got, err := settings.Read(env(map[string]string{
		"PAYSIM_LATENCY": "150ms", "PAYSIM_ERROR_RATE": "0.2", "PAYSIM_HANG_RATE": "0.05", "PAYSIM_DROP_RATE": "1",
	}), paysim.ReadFaults)
	want := paysim.Faults{Latency: paysim.Duration(150 * time.Millisecond), ErrorRate: 0.2, HangRate: 0.05, DropRate: 1}
	if err != nil || got != want {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}
	if got, err := settings.Read(env(nil), paysim.ReadFaults); err != nil || got != (paysim.Faults{}) {
		t.Errorf("empty environment: got %+v, %v; want no faults", got, err)
	}
	for _, kv := range []map[string]string{
		{"PAYSIM_LATENCY": "soon"},
		{"PAYSIM_ERROR_RATE": "2"},
		{"PAYSIM_HANG_RATE": "-0.5"},
		{"PAYSIM_DROP_RATE": "often"},
		{"PAYSIM_DROP_RATE": "NaN"},
	} {
		if _, err := settings.Read(env(kv), paysim.ReadFaults); err == nil {
			t.Errorf("%v: got no error", kv)
		}
	}
}
