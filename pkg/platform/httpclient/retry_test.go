package httpclient_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
)

// fastRetry retries quickly so the tests stay short.
var fastRetry = &httpclient.RetryOptions{MaxAttempts: 3, Backoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}

// send sends a request and returns the status and body, or the error.
func send(ctx context.Context, c *http.Client, method, url string, header map[string]string, body string) (int, string, error) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, "", err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer httpclient.DrainAndClose(resp.Body)
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw), err
}

// failing answers the first n requests with status, then 200 "ok"; it
// counts the requests it gets and records their bodies.
type failing struct {
	n      int64
	status int
	hits   atomic.Int64
	mu     sync.Mutex
	bodies []string
}

func (f *failing) handle(_ *server, w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.bodies = append(f.bodies, string(b))
	f.mu.Unlock()
	if f.hits.Add(1) <= f.n {
		w.WriteHeader(f.status)
		return
	}
	_, _ = io.WriteString(w, "ok")
}

func TestClient_Retry(t *testing.T) {
	t.Parallel()
	key := map[string]string{httpclient.IdempotencyKeyHeader: "charge-ord-1"}

	cases := []struct {
		name       string
		method     string
		header     map[string]string
		failures   int64
		status     int
		wantHits   int64
		wantStatus int
	}{
		{"GET after 503 until it works", http.MethodGet, nil, 2, http.StatusServiceUnavailable, 3, http.StatusOK},
		{"GET after 500", http.MethodGet, nil, 1, http.StatusInternalServerError, 2, http.StatusOK},
		{"GET after 429", http.MethodGet, nil, 1, http.StatusTooManyRequests, 2, http.StatusOK},
		{"GET at most MaxAttempts times", http.MethodGet, nil, 10, http.StatusBadGateway, 3, http.StatusBadGateway},
		{"POST with an Idempotency-Key", http.MethodPost, key, 2, http.StatusGatewayTimeout, 3, http.StatusOK},
		{"POST without a key is sent once", http.MethodPost, nil, 1, http.StatusServiceUnavailable, 1, http.StatusServiceUnavailable},
		{"a 4xx is an answer, not retried", http.MethodGet, nil, 1, http.StatusBadRequest, 1, http.StatusBadRequest},
		{"a 501 is not transient", http.MethodGet, nil, 1, http.StatusNotImplemented, 1, http.StatusNotImplemented},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &failing{n: tt.failures, status: tt.status}
			srv := newServer(t, f.handle)
			c := newClient(t, httpclient.Options{Name: "psp", Retry: fastRetry})
			status, _, err := send(context.Background(), c, tt.method, srv.URL, tt.header, `{"amount":100}`)
			if err != nil {
				t.Fatalf("%s: %v", tt.method, err)
			}
			if status != tt.wantStatus {
				t.Errorf("got status %d, want %d", status, tt.wantStatus)
			}
			if got := f.hits.Load(); got != tt.wantHits {
				t.Errorf("server got %d requests, want %d", got, tt.wantHits)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			for i, b := range f.bodies {
				if tt.method == http.MethodPost && b != `{"amount":100}` {
					t.Errorf("attempt %d sent body %q, want the original", i+1, b)
				}
			}
		})
	}

	t.Run("no retries without Options.Retry", func(t *testing.T) {
		t.Parallel()
		f := &failing{n: 1, status: http.StatusServiceUnavailable}
		srv := newServer(t, f.handle)
		c := newClient(t, httpclient.Options{Name: "psp"})
		if status, _, err := send(context.Background(), c, http.MethodGet, srv.URL, nil, ""); err != nil || status != http.StatusServiceUnavailable {
			t.Errorf("got %d, %v; want 503 and no error", status, err)
		}
		if got := f.hits.Load(); got != 1 {
			t.Errorf("server got %d requests, want 1", got)
		}
	})

	t.Run("after a dropped connection", func(t *testing.T) {
		t.Parallel()
		var hits atomic.Int64
		srv := newServer(t, func(_ *server, w http.ResponseWriter, r *http.Request) {
			_, _ = io.ReadAll(r.Body)
			if hits.Add(1) == 1 {
				panic(http.ErrAbortHandler) // close the connection without an answer
			}
			_, _ = io.WriteString(w, "ok")
		})
		c := newClient(t, httpclient.Options{Name: "psp", Retry: fastRetry})
		status, body, err := send(context.Background(), c, http.MethodPost, srv.URL, key, `{"amount":100}`)
		if err != nil || status != http.StatusOK || body != "ok" {
			t.Fatalf("got %d %q, %v; want 200 ok after a retry", status, body, err)
		}
		if got := hits.Load(); got != 2 {
			t.Errorf("server got %d requests, want 2", got)
		}
	})

	t.Run("all attempts stay within Timeout", func(t *testing.T) {
		t.Parallel()
		f := &failing{n: 1 << 30, status: http.StatusServiceUnavailable}
		srv := newServer(t, f.handle)
		const timeout = 300 * time.Millisecond
		c := newClient(t, httpclient.Options{Name: "psp", Timeout: timeout,
			Retry: &httpclient.RetryOptions{MaxAttempts: 1000, Backoff: 40 * time.Millisecond, MaxBackoff: 40 * time.Millisecond}})
		start := time.Now()
		status, _, err := send(context.Background(), c, http.MethodGet, srv.URL, nil, "")
		elapsed := time.Since(start)
		if err == nil && status != http.StatusServiceUnavailable {
			t.Errorf("got status %d, want the last 503 or a timeout", status)
		}
		if elapsed > timeout+200*time.Millisecond {
			t.Errorf("retrying took %v, want it within the %v Timeout", elapsed, timeout)
		}
		if got := f.hits.Load(); got < 2 || got > 1+int64(timeout/(20*time.Millisecond)) {
			t.Errorf("server got %d requests, want a few retries bounded by the timeout", got)
		}
	})

	t.Run("cancellation ends the wait between attempts", func(t *testing.T) {
		t.Parallel()
		f := &failing{n: 1 << 30, status: http.StatusServiceUnavailable}
		srv := newServer(t, f.handle)
		c := newClient(t, httpclient.Options{Name: "psp",
			Retry: &httpclient.RetryOptions{MaxAttempts: 5, Backoff: time.Second, MaxBackoff: time.Second}})
		ctx, cancel := context.WithCancel(context.Background())
		timer := time.AfterFunc(100*time.Millisecond, cancel)
		defer timer.Stop()
		start := time.Now()
		_, _, err := send(ctx, c, http.MethodGet, srv.URL, nil, "")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got error %v, want context.Canceled", err)
		}
		if elapsed := time.Since(start); elapsed > 700*time.Millisecond {
			t.Errorf("gave up after %v, want soon after the cancel", elapsed)
		}
		if got := f.hits.Load(); got != 1 {
			t.Errorf("server got %d requests, want 1", got)
		}
	})
}

func TestNew_RetryAndBreakerOptions(t *testing.T) {
	t.Parallel()
	invalid := []struct {
		name string
		opts httpclient.Options
		want string
	}{
		{"negative attempts", httpclient.Options{Name: "psp", Retry: &httpclient.RetryOptions{MaxAttempts: -1}}, "Retry.MaxAttempts is negative"},
		{"negative backoff", httpclient.Options{Name: "psp", Retry: &httpclient.RetryOptions{Backoff: -1}}, "Retry.Backoff is negative"},
		{"max backoff below backoff", httpclient.Options{Name: "psp", Retry: &httpclient.RetryOptions{Backoff: time.Second, MaxBackoff: time.Millisecond}}, "below Retry.Backoff"},
		{"negative open timeout", httpclient.Options{Name: "psp", Breaker: &httpclient.BreakerOptions{OpenTimeout: -1}}, "Breaker.OpenTimeout is negative"},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := httpclient.New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
	if _, err := httpclient.New(httpclient.Options{Name: "psp", Retry: &httpclient.RetryOptions{}, Breaker: &httpclient.BreakerOptions{}}); err != nil {
		t.Errorf("zero RetryOptions and BreakerOptions: %v, want the defaults", err)
	}
}
