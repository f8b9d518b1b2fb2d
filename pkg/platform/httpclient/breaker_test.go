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

// tripAfter is a breaker that opens once n attempts in a row failed and
// nothing else happened: with a ratio of 1 over n attempts.
func tripAfter(n uint, openFor time.Duration, onChange func(from, to string)) *httpclient.BreakerOptions {
	return &httpclient.BreakerOptions{FailureRatio: 1, MinAttempts: n, Window: time.Minute, OpenTimeout: openFor, OnStateChange: onChange}
}

func TestClient_Breaker(t *testing.T) {
	t.Parallel()
	const failures = 3

	t.Run("opens on the failure ratio and fails fast without sending", func(t *testing.T) {
		t.Parallel()
		s := newSwitchable(http.StatusInternalServerError)
		srv := newServer(t, s.handle)
		var tr transitions
		c := newClient(t, httpclient.Options{Name: "psp", Breaker: tripAfter(failures, time.Hour, tr.record)})
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

	t.Run("a flaky peer below the ratio keeps it closed, streaks included", func(t *testing.T) {
		t.Parallel()
		// Three failures in every five attempts, in streaks of three: a
		// breaker counting streaks would open at once; the ratio (60 %)
		// stays below the default 80 %.
		var n atomic.Int64
		srv := newServer(t, func(_ *server, w http.ResponseWriter, _ *http.Request) {
			if n.Add(1)%5 < 3 {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		c := newClient(t, httpclient.Options{Name: "psp", Breaker: &httpclient.BreakerOptions{}})
		for i := range 200 {
			if _, _, err := send(context.Background(), c, http.MethodGet, srv.URL, nil, ""); err != nil {
				t.Fatalf("request %d: %v, want the breaker closed for a peer failing 60 %% of the time", i+1, err)
			}
		}
	})

	t.Run("a peer that fails nearly always opens it with the defaults", func(t *testing.T) {
		t.Parallel()
		s := newSwitchable(http.StatusServiceUnavailable)
		srv := newServer(t, s.handle)
		c := newClient(t, httpclient.Options{Name: "psp", Breaker: &httpclient.BreakerOptions{}})
		for range httpclient.DefaultBreakerMinAttempts {
			_, _, _ = send(context.Background(), c, http.MethodGet, srv.URL, nil, "")
		}
		if _, _, err := send(context.Background(), c, http.MethodGet, srv.URL, nil, ""); !errors.Is(err, httpclient.ErrCircuitOpen) {
			t.Errorf("after %d failed attempts: got %v, want ErrCircuitOpen", httpclient.DefaultBreakerMinAttempts, err)
		}
	})

	t.Run("4xx answers do not open it", func(t *testing.T) {
		t.Parallel()
		s := newSwitchable(http.StatusBadRequest)
		srv := newServer(t, s.handle)
		c := newClient(t, httpclient.Options{Name: "psp", Breaker: tripAfter(failures, time.Hour, nil)})
		for i := range 3 * failures {
			if status, _, err := send(context.Background(), c, http.MethodGet, srv.URL, nil, ""); err != nil || status != 400 {
				t.Fatalf("request %d: got %d, %v; want the server's 400", i+1, status, err)
			}
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
		c := newClient(t, httpclient.Options{Name: "psp", Breaker: tripAfter(failures, time.Hour, nil)})
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
		c := newClient(t, httpclient.Options{Name: "psp", Timeout: 50 * time.Millisecond, Breaker: tripAfter(2, time.Hour, nil)})
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

	t.Run("half-open after OpenTimeout: the trials' successes close it", func(t *testing.T) {
		t.Parallel()
		s := newSwitchable(http.StatusInternalServerError)
		srv := newServer(t, s.handle)
		var tr transitions
		const openFor = 100 * time.Millisecond
		c := newClient(t, httpclient.Options{Name: "psp", Breaker: tripAfter(1, openFor, tr.record)})
		_, _, _ = send(context.Background(), c, http.MethodGet, srv.URL, nil, "")
		if _, _, err := send(context.Background(), c, http.MethodGet, srv.URL, nil, ""); !errors.Is(err, httpclient.ErrCircuitOpen) {
			t.Fatalf("got %v, want ErrCircuitOpen", err)
		}
		s.status.Store(http.StatusOK)
		time.Sleep(openFor + 20*time.Millisecond)
		for i := range httpclient.DefaultBreakerHalfOpen + 2 {
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
		c := newClient(t, httpclient.Options{Name: "psp", Breaker: tripAfter(1, openFor, nil)})
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

	t.Run("half-open: a trial its caller gave up on does not hold the slot", func(t *testing.T) {
		t.Parallel()
		var block atomic.Bool
		block.Store(true)
		srv := newServer(t, func(s *server, w http.ResponseWriter, r *http.Request) {
			if block.Load() {
				s.wait(r)
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		const openFor = 50 * time.Millisecond
		c := newClient(t, httpclient.Options{Name: "psp", Timeout: 20 * time.Millisecond,
			Breaker: &httpclient.BreakerOptions{FailureRatio: 1, MinAttempts: 1, Window: time.Minute, OpenTimeout: openFor, HalfOpenRequests: 1}})
		_, _, _ = send(context.Background(), c, http.MethodGet, srv.URL, nil, "") // times out: opens
		time.Sleep(openFor + 20*time.Millisecond)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(5*time.Millisecond, cancel)
		if _, _, err := send(ctx, c, http.MethodGet, srv.URL, nil, ""); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled trial: got %v, want context.Canceled", err)
		}
		block.Store(false)
		time.Sleep(openFor + 20*time.Millisecond)
		if status, _, err := send(context.Background(), c, http.MethodGet, srv.URL, nil, ""); err != nil || status != 200 {
			t.Errorf("after the cancelled trial: got %d, %v; want a new trial sent and answered", status, err)
		}
	})

	t.Run("an open breaker ends retries", func(t *testing.T) {
		t.Parallel()
		s := newSwitchable(http.StatusServiceUnavailable)
		srv := newServer(t, s.handle)
		c := newClient(t, httpclient.Options{Name: "psp",
			Retry:   &httpclient.RetryOptions{MaxAttempts: 10, Backoff: time.Millisecond, MaxBackoff: time.Millisecond},
			Breaker: tripAfter(failures, time.Hour, nil)})
		_, _, err := send(context.Background(), c, http.MethodGet, srv.URL, nil, "")
		if !errors.Is(err, httpclient.ErrCircuitOpen) {
			t.Errorf("got %v, want ErrCircuitOpen once the retries opened the breaker", err)
		}
		if got := s.hits.Load(); got != failures {
			t.Errorf("server got %d requests, want %d (the attempts that opened the breaker)", got, failures)
		}
	})

	t.Run("options out of range are refused", func(t *testing.T) {
		t.Parallel()
		for _, o := range []httpclient.BreakerOptions{{FailureRatio: 1.5}, {FailureRatio: -0.1}, {Window: -time.Second}, {OpenTimeout: -time.Second}} {
			if _, err := httpclient.New(httpclient.Options{Name: "psp", Breaker: &o}); err == nil {
				t.Errorf("New with breaker %+v: no error", o)
			}
		}
	})
}
