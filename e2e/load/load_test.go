package load_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/e2e/load"
)

// TestPlace_Retries: a placement refused by one gateway is sent again, with
// the same key, to the next; every attempt is in its history.
func TestPlace_Retries(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	keys := map[string][]string{} // gateway → keys it saw
	gateway := func(name string, status int) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			keys[name] = append(keys[name], r.Header.Get("Idempotency-Key"))
			mu.Unlock()
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"id":"ord_1","status":"CONFIRMED"}`))
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	down, up := gateway("down", http.StatusServiceUnavailable), gateway("up", http.StatusCreated)
	ps, err := load.Place(t.Context(), load.Options{
		Gateways: []string{down.URL, up.URL}, Rate: 2, Duration: time.Second, Retries: 2,
		Bearer: func(string) string { return "Bearer x" }, Run: "r",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 {
		t.Fatalf("%d placements, want 2", len(ps))
	}
	for _, p := range ps {
		if p.Status != http.StatusCreated || p.OrderID != "ord_1" {
			t.Errorf("placement %s: status %d order %q, want 201 ord_1", p.Key, p.Status, p.OrderID)
		}
		last := p.Attempts[len(p.Attempts)-1]
		if last.Gateway != up.URL || last.Status != http.StatusCreated {
			t.Errorf("placement %s: last attempt %+v, want 201 from the gateway that is up", p.Key, last)
		}
		if p.Retries() > 1 || (p.Retries() == 1 && p.Attempts[0].Status != http.StatusServiceUnavailable) {
			t.Errorf("placement %s: attempts %+v, want one 503 then the 201 at most", p.Key, p.Attempts)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(keys["down"]) != 1 || len(keys["up"]) != 2 {
		t.Fatalf("the gateways saw %v: want one refused placement, retried on the other", keys)
	}
	retried := keys["down"][0]
	if keys["up"][0] != retried && keys["up"][1] != retried {
		t.Errorf("the retry of %s was not sent with the same key: %v", retried, keys)
	}
}

// TestRead: each read comes from a client of its own; answers 200 are the
// goodput, and a refusal's latency is not an admitted one.
func TestRead(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	clients := map[string]bool{}
	var n int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		clients[r.Header.Get("Authorization")] = true
		if n++; n%2 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable) // every other read refused, at once
			return
		}
		time.Sleep(20 * time.Millisecond)
		_, _ = w.Write([]byte(`{"products":[]}`))
	}))
	t.Cleanup(srv.Close)
	s, err := load.Read(t.Context(), load.ReadOptions{Gateway: srv.URL, Path: "/v1/products", Rate: 10, Duration: time.Second,
		Bearer: func(c string) string { return "Bearer " + c }, Run: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Sent != 10 || s.ByStatus[http.StatusOK] != 5 || s.ByStatus[http.StatusServiceUnavailable] != 5 || s.Goodput != 5 {
		t.Errorf("summary %+v: want 10 reads, 5 × 200, 5 × 503, goodput 5/s", s)
	}
	if s.P50 < 20*time.Millisecond {
		t.Errorf("admitted p50 %v: want at least the 20 ms the server takes (refusals are not admitted)", s.P50)
	}
	if len(clients) != 10 {
		t.Errorf("%d distinct clients, want one per read (10)", len(clients))
	}
	if _, err := load.Read(t.Context(), load.ReadOptions{Gateway: srv.URL, Path: "/", Rate: load.MaxRate + 1, Duration: time.Second,
		Bearer: func(string) string { return "" }, Run: "r"}); err == nil {
		t.Error("a rate above MaxRate was accepted")
	}
}
