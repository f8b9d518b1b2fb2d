package httpclient_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
)

// server is an httptest server on loopback that counts the connections it
// accepts and closes.
type server struct {
	*httptest.Server
	opened, closed atomic.Int64
	// stop is closed when the test ends, releasing handlers that wait.
	stop chan struct{}
}

// newServer starts a server for h; it is shut down when the test ends.
func newServer(t *testing.T, h func(s *server, w http.ResponseWriter, r *http.Request)) *server {
	t.Helper()
	s := &server{stop: make(chan struct{})}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(s, w, r)
	}))
	s.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		switch state {
		case http.StateNew:
			s.opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			s.closed.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	// Runs before s.Close, which waits for handlers.
	t.Cleanup(func() { close(s.stop) })
	return s
}

// wait blocks until the request is abandoned or the test ends.
func (s *server) wait(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.stop:
	}
}

// newClient calls httpclient.New and releases the client's pool when the
// test ends, before the server closes.
func newClient(t *testing.T, opts httpclient.Options) *http.Client {
	t.Helper()
	c, err := httpclient.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// get sends a GET to url with ctx and fails the test on error.
func get(ctx context.Context, t *testing.T, c *http.Client, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp
}

// do sends a GET to url with ctx and returns the response body read in full,
// or the first error.
func do(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer httpclient.DrainAndClose(resp.Body)
	_, err = io.ReadAll(resp.Body)
	return err
}

func TestNew_Options(t *testing.T) {
	t.Parallel()

	invalid := []struct {
		name string
		opts httpclient.Options
		want string
	}{
		{"no name", httpclient.Options{}, "missing Name"},
		{"negative timeout", httpclient.Options{Name: "psp", Timeout: -time.Second}, "Timeout is negative"},
		{"negative dial timeout", httpclient.Options{Name: "psp", DialTimeout: -1}, "DialTimeout is negative"},
		{"negative pool size", httpclient.Options{Name: "psp", MaxIdleConnsPerHost: -1}, "MaxIdleConnsPerHost is negative"},
		{
			"header timeout beyond total",
			httpclient.Options{Name: "psp", Timeout: time.Second, ResponseHeaderTimeout: 2 * time.Second},
			"ResponseHeaderTimeout 2s exceeds Timeout 1s",
		},
		{
			"header timeout beyond default total",
			httpclient.Options{Name: "psp", ResponseHeaderTimeout: 5 * time.Second},
			"ResponseHeaderTimeout 5s exceeds Timeout 3s",
		},
		{
			"dial timeout beyond total",
			httpclient.Options{Name: "psp", Timeout: time.Second, DialTimeout: 2 * time.Second},
			"DialTimeout 2s exceeds Timeout 1s",
		},
		{
			"TLS handshake timeout beyond total",
			httpclient.Options{Name: "psp", Timeout: time.Second, TLSHandshakeTimeout: 2 * time.Second},
			"TLSHandshakeTimeout 2s exceeds Timeout 1s",
		},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := httpclient.New(tt.opts)
			if err == nil {
				t.Fatalf("New(%+v) = %v, want an error", tt.opts, c)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}

	valid := []struct {
		name        string
		opts        httpclient.Options
		wantTimeout time.Duration
	}{
		{"defaults", httpclient.Options{Name: "psp"}, httpclient.DefaultTimeout},
		// The 1s/1s/2s defaults are capped instead of rejected.
		{"short total timeout", httpclient.Options{Name: "psp", Timeout: 200 * time.Millisecond}, 200 * time.Millisecond},
		{"header timeout equal to total", httpclient.Options{Name: "psp", Timeout: time.Second, ResponseHeaderTimeout: time.Second}, time.Second},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := httpclient.New(tt.opts)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if c == http.DefaultClient || c.Transport == nil { //nolint:forbidigo // checks that New never returns it
				t.Error("New returned the default client or transport")
			}
			if c.Timeout != tt.wantTimeout {
				t.Errorf("Timeout = %v, want %v", c.Timeout, tt.wantTimeout)
			}
		})
	}
}

func TestClient_TraceContext(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 1)
	srv := newServer(t, func(_ *server, w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
	})
	c := newClient(t, httpclient.Options{Name: "psp"})

	ctx, parent := otel.Tracer("test").Start(context.Background(), "Charge")
	httpclient.DrainAndClose(get(ctx, t, c, srv.URL+"/charges").Body)
	parent.End()

	h := <-got
	if h.Get("traceparent") == "" {
		t.Fatalf("request has no traceparent header; headers: %v", h)
	}
	remote := trace.SpanContextFromContext(
		propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(h)))
	if remote.TraceID() != parent.SpanContext().TraceID() {
		t.Errorf("traceparent trace id = %s, want the caller's %s", remote.TraceID(), parent.SpanContext().TraceID())
	}
	if remote.SpanID() == parent.SpanContext().SpanID() {
		t.Error("traceparent names the caller's span, want the client span made for the request")
	}

	var found bool
	for _, s := range spans.Ended() {
		if s.SpanContext().SpanID() != remote.SpanID() {
			continue
		}
		found = true
		if s.Name() != "psp GET" {
			t.Errorf("client span name = %q, want %q", s.Name(), "psp GET")
		}
		if s.SpanKind() != trace.SpanKindClient {
			t.Errorf("client span kind = %v, want client", s.SpanKind())
		}
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("client span parent = %s, want the caller's span %s", s.Parent().SpanID(), parent.SpanContext().SpanID())
		}
		var peer string
		for _, kv := range s.Attributes() {
			if kv.Key == "service.peer.name" {
				peer = kv.Value.AsString()
			}
		}
		if peer != "psp" {
			t.Errorf("client span service.peer.name = %q, want psp", peer)
		}
	}
	if !found {
		t.Errorf("no ended span has the id %s sent in traceparent", remote.SpanID())
	}
}

func TestClient_Timeout(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond

	tests := []struct {
		name    string
		handler func(s *server, w http.ResponseWriter, r *http.Request)
	}{
		{"before headers", func(s *server, _ http.ResponseWriter, r *http.Request) {
			s.wait(r)
		}},
		{"while reading the body", func(s *server, w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			s.wait(r)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, tt.handler)
			c := newClient(t, httpclient.Options{Name: "slow", Timeout: timeout})

			start := time.Now()
			err := do(context.Background(), c, srv.URL)
			elapsed := time.Since(start)

			if err == nil {
				t.Fatal("request succeeded, want a timeout")
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("errors.Is(%v, context.DeadlineExceeded) = false, want true", err)
			}
			if !os.IsTimeout(err) {
				t.Errorf("os.IsTimeout(%v) = false, want true", err)
			}
			if elapsed < timeout || elapsed > 10*timeout {
				t.Errorf("gave up after %v, want about %v", elapsed, timeout)
			}
		})
	}
}

func TestClient_ContextEndsRequest(t *testing.T) {
	t.Parallel()

	t.Run("cancellation aborts a request in flight", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, func(s *server, _ http.ResponseWriter, r *http.Request) { s.wait(r) })
		c := newClient(t, httpclient.Options{Name: "slow"})

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		timer := time.AfterFunc(50*time.Millisecond, cancel)
		defer timer.Stop()

		start := time.Now()
		err := do(ctx, c, srv.URL)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error = %v, want context.Canceled", err)
		}
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Errorf("gave up after %v, want soon after the 50ms cancel", elapsed)
		}
	})

	t.Run("cancelled context never reaches the server", func(t *testing.T) {
		t.Parallel()
		var hits atomic.Int64
		srv := newServer(t, func(*server, http.ResponseWriter, *http.Request) { hits.Add(1) })
		c := newClient(t, httpclient.Options{Name: "psp"})

		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := do(ctx, c, srv.URL); !errors.Is(err, context.Canceled) {
			t.Errorf("error = %v, want context.Canceled", err)
		}
		if n := hits.Load(); n != 0 {
			t.Errorf("server handled %d requests, want 0", n)
		}
	})

	t.Run("a caller's deadline shorter than Timeout wins", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, func(s *server, _ http.ResponseWriter, r *http.Request) { s.wait(r) })
		c := newClient(t, httpclient.Options{Name: "slow"}) // 3s ceiling

		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := do(ctx, c, srv.URL)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error = %v, want context.DeadlineExceeded", err)
		}
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Errorf("gave up after %v, want about 100ms", elapsed)
		}
	})
}

func TestClient_ConnectionReuse(t *testing.T) {
	t.Parallel()
	const requests = 5
	body := strings.Repeat("x", 4<<10)
	small := func(_ *server, w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, body) }

	t.Run("drained bodies share one connection", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, small)
		c := newClient(t, httpclient.Options{Name: "psp"})
		for range requests {
			// The caller reads nothing: DrainAndClose alone must free the
			// connection for the next request.
			httpclient.DrainAndClose(get(context.Background(), t, c, srv.URL).Body)
		}
		if n := srv.opened.Load(); n != 1 {
			t.Errorf("server accepted %d connections for %d sequential requests, want 1", n, requests)
		}
	})

	t.Run("closing without draining costs a connection each time", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, small)
		c := newClient(t, httpclient.Options{Name: "psp"})
		for range requests {
			_ = get(context.Background(), t, c, srv.URL).Body.Close()
		}
		if n := srv.opened.Load(); n != requests {
			t.Errorf("server accepted %d connections, want %d: the reason DrainAndClose exists", n, requests)
		}
	})

	t.Run("an endless body is abandoned, not read", func(t *testing.T) {
		t.Parallel()
		chunk := []byte(strings.Repeat("y", 32<<10))
		srv := newServer(t, func(s *server, w http.ResponseWriter, r *http.Request) {
			for {
				if _, err := w.Write(chunk); err != nil {
					return
				}
				select {
				case <-r.Context().Done():
					return
				case <-s.stop:
					return
				default:
				}
			}
		})
		c := newClient(t, httpclient.Options{Name: "psp"})

		start := time.Now()
		for range 2 {
			httpclient.DrainAndClose(get(context.Background(), t, c, srv.URL).Body)
		}
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Errorf("draining took %v, want it bounded", elapsed)
		}
		if n := srv.opened.Load(); n != 2 {
			t.Errorf("server accepted %d connections, want 2 (an oversized body is not worth reusing)", n)
		}
	})

	t.Run("CloseIdleConnections releases the pool", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, small)
		c := newClient(t, httpclient.Options{Name: "psp"})
		httpclient.DrainAndClose(get(context.Background(), t, c, srv.URL).Body)

		c.CloseIdleConnections()
		deadline := time.Now().Add(2 * time.Second)
		for srv.closed.Load() == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if n := srv.closed.Load(); n != 1 {
			t.Errorf("server saw %d connections closed, want 1", n)
		}
	})
}

func TestDrainAndClose(t *testing.T) {
	t.Parallel()

	t.Run("nil body", func(t *testing.T) {
		t.Parallel()
		httpclient.DrainAndClose(nil) // must not panic
	})

	t.Run("reads at most 64 KiB and closes", func(t *testing.T) {
		t.Parallel()
		body := &countingBody{r: strings.NewReader(strings.Repeat("z", 1<<20))}
		httpclient.DrainAndClose(body)
		if body.n > 64<<10 {
			t.Errorf("read %d bytes, want at most %d", body.n, 64<<10)
		}
		if !body.closed {
			t.Error("body not closed")
		}
	})
}

// countingBody is an io.ReadCloser that counts what is read from it.
type countingBody struct {
	r      io.Reader
	n      int
	closed bool
}

// Read reads from the underlying reader and counts the bytes.
func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += n
	return n, err
}

// Close records that the body was closed.
func (b *countingBody) Close() error {
	b.closed = true
	return nil
}
