package httpclient_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
)

// switchable answers every request with its current status and counts them.
type switchable struct {
	status atomic.Int64
	hits   atomic.Int64
}

func newSwitchable(status int) *switchable {
	s := &switchable{}
	s.status.Store(int64(status))
	return s
}

func (s *switchable) handle(_ *server, w http.ResponseWriter, _ *http.Request) {
	s.hits.Add(1)
	w.WriteHeader(int(s.status.Load()))
}

// transitions records a breaker's state changes.
type transitions struct {
	mu  sync.Mutex
	got []string
}

func (tr *transitions) record(from, to string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.got = append(tr.got, from+"->"+to)
}

func (tr *transitions) list() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.got)
}

func TestClient_Breaker(t *testing.T) {
	t.Parallel()
	const failures = 3

	t.Run("opens after consecutive 5xx and fails fast without sending", func(t *testing.T) {
		t.Parallel()
		s := newSwitchable(http.StatusInternalServerError)
		srv := newServer(t, s.handle)
		var tr transitions
		c := newClient(t, httpclient.Options{Name: "psp",
			Breaker: &httpclient.BreakerOptions{ConsecutiveFailures: failures, OpenTimeout: time.Hour, OnStateChange: tr.record}})
		for i := range failures {
			if status, _, err := send(context.Background(), c, http.MethodGet, srv.URL, nil, ""); err != nil || status != 500 {
				t.Fatalf("request %d: got %d, %v; want the server's 500", i+1, status, err)
			}
		}
		start := time.Now()
		for range 10 {
			_, _, err := send(context.Background(), c, http.MethodGet, srv.URL, nil, "")
			if !errors.Is(err, httpclient.ErrCircuitOpen) {
				t.Fatalf("got error %v, want ErrCircuitOpen", err)
			}
		}
		if elapsed := time.Since(start); elapsed > 100*time.Millisecond {
			t.Errorf("10 refused requests took %v, want them immediate", elapsed)
		}
		if got := s.hits.Load(); got != failures {
			t.Errorf("server got %d requests, want %d: an open breaker sends nothing", got, failures)
		}
		if got, want := tr.list(), []string{"closed->open"}; !slices.Equal(got, want) {
			t.Errorf("got transitions %v, want %v", got, want)
		}
	})

	t.Run("4xx answers do not open it", func(t *testing.T) {
		t.Parallel()
		s := newSwitchable(http.StatusBadRequest)
		srv := newServer(t, s.handle)
		c := newClient(t, httpclient.Options{Name: "psp", Breaker: &httpclient.BreakerOptions{ConsecutiveFailures: failures}})
		for i := range 3 * failures {
			if status, _, err := send(context.Background(), c, http.MethodGet, srv.URL, nil, ""); err != nil || status != 400 {
				t.Fatalf("request %d: got %d, %v; want the server's 400", i+1, status, err)
			}
		}
	})

	t.Run("a success resets the count", func(t *testing.T) {
		t.Parallel()
		s := newSwitchable(http.StatusServiceUnavailable)
		srv := newServer(t, s.handle)
		c := newClient(t, httpclient.Options{Name: "psp", Breaker: &httpclient.BreakerOptions{ConsecutiveFailures: failures}})
		for range 3 {
			for range failures - 1 {
				_, _, _ = send(context.Background(), c, http.MethodGet, srv.URL, nil, "")
			}
			s.status.Store(http.StatusOK)
			if _, _, err := send(context.Background(), c, http.MethodGet, srv.URL, nil, ""); err != nil {
				t.Fatalf("got %v, want the breaker still closed", err)
			}
			s.status.Store(http.StatusServiceUnavailable)
		}
	})

	t.Run("transport errors count", func(t *testing.T) {
		t.Parallel()
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		url := "http://" + lis.Addr().String()
		_ = lis.Close() // connections are refused from now on
		c := newClient(t, httpclient.Options{Name: "psp", Breaker: &httpclient.BreakerOptions{ConsecutiveFailures: failures}})
		for i := range failures {
			if _, _, err := send(context.Background(), c, http.MethodGet, url, nil, ""); err == nil || errors.Is(err, httpclient.ErrCircuitOpen) {
				t.Fatalf("request %d: got %v, want a connection error", i+1, err)
			}
		}
		if _, _, err := send(context.Background(), c, http.MethodGet, url, nil, ""); !errors.Is(err, httpclient.ErrCircuitOpen) {
			t.Errorf("got %v, want ErrCircuitOpen", err)
		}
	})

	t.Run("timeouts count, the caller's cancellations do not", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, func(s *server, _ http.ResponseWriter, r *http.Request) { s.wait(r) })
		c := newClient(t, httpclient.Options{Name: "psp", Timeout: 50 * time.Millisecond,
			Breaker: &httpclient.BreakerOptions{ConsecutiveFailures: 2}})
		for range 5 {
			ctx, cancel := context.WithCancel(context.Background())
			timer := time.AfterFunc(5*time.Millisecond, cancel)
			_, _, err := send(ctx, c, http.MethodGet, srv.URL, nil, "")
			timer.Stop()
			cancel()
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v, want context.Canceled", err)
			}
		}
		for range 2 {
			if _, _, err := send(context.Background(), c, http.MethodGet, srv.URL, nil, ""); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %v, want a timeout", err)
			}
		}
		if _, _, err := send(context.Background(), c, http.MethodGet, srv.URL, nil, ""); !errors.Is(err, httpclient.ErrCircuitOpen) {
			t.Errorf("got %v, want ErrCircuitOpen after two timeouts", err)
		}
	})

	t.Run("half-open after OpenTimeout: a success closes it", func(t *testing.T) {
		t.Parallel()
		s := newSwitchable(http.StatusInternalServerError)
		srv := newServer(t, s.handle)
		var tr transitions
		const openFor = 100 * time.Millisecond
		c := newClient(t, httpclient.Options{Name: "psp",
			Breaker: &httpclient.BreakerOptions{ConsecutiveFailures: 1, OpenTimeout: openFor, OnStateChange: tr.record}})
		_, _, _ = send(context.Background(), c, http.MethodGet, srv.URL, nil, "")
		if _, _, err := send(context.Background(), c, http.MethodGet, srv.URL, nil, ""); !errors.Is(err, httpclient.ErrCircuitOpen) {
			t.Fatalf("got %v, want ErrCircuitOpen", err)
		}
		s.status.Store(http.StatusOK)
		time.Sleep(openFor + 20*time.Millisecond)
		for i := range 3 {
			if status, _, err := send(context.Background(), c, http.MethodGet, srv.URL, nil, ""); err != nil || status != 200 {
				t.Fatalf("request %d after recovery: got %d, %v; want 200", i+1, status, err)
			}
		}
		want := []string{"closed->open", "open->half-open", "half-open->closed"}
		if got := tr.list(); !slices.Equal(got, want) {
			t.Errorf("got transitions %v, want %v", got, want)
		}
	})

	t.Run("half-open: a failed trial opens it again", func(t *testing.T) {
		t.Parallel()
		s := newSwitchable(http.StatusInternalServerError)
		srv := newServer(t, s.handle)
		const openFor = 50 * time.Millisecond
		c := newClient(t, httpclient.Options{Name: "psp", Breaker: &httpclient.BreakerOptions{ConsecutiveFailures: 1, OpenTimeout: openFor}})
		_, _, _ = send(context.Background(), c, http.MethodGet, srv.URL, nil, "")
		time.Sleep(openFor + 20*time.Millisecond)
		if status, _, err := send(context.Background(), c, http.MethodGet, srv.URL, nil, ""); err != nil || status != 500 {
			t.Fatalf("trial: got %d, %v; want it sent and answered 500", status, err)
		}
		if _, _, err := send(context.Background(), c, http.MethodGet, srv.URL, nil, ""); !errors.Is(err, httpclient.ErrCircuitOpen) {
			t.Errorf("got %v, want ErrCircuitOpen after the failed trial", err)
		}
		if got := s.hits.Load(); got != 2 {
			t.Errorf("server got %d requests, want 2", got)
		}
	})

	t.Run("an open breaker ends retries", func(t *testing.T) {
		t.Parallel()
		s := newSwitchable(http.StatusServiceUnavailable)
		srv := newServer(t, s.handle)
		c := newClient(t, httpclient.Options{Name: "psp",
			Retry:   &httpclient.RetryOptions{MaxAttempts: 10, Backoff: time.Millisecond, MaxBackoff: time.Millisecond},
			Breaker: &httpclient.BreakerOptions{ConsecutiveFailures: failures, OpenTimeout: time.Hour}})
		_, _, err := send(context.Background(), c, http.MethodGet, srv.URL, nil, "")
		if !errors.Is(err, httpclient.ErrCircuitOpen) {
			t.Errorf("got %v, want ErrCircuitOpen once the retries opened the breaker", err)
		}
		if got := s.hits.Load(); got != failures {
			t.Errorf("server got %d requests, want %d (the attempts that opened the breaker)", got, failures)
		}
	})
}
