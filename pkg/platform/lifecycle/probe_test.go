package lifecycle_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"
)

func TestProbe(t *testing.T) {
	t.Parallel()
	admin := func(t *testing.T, code int) string {
		t.Helper()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/readyz" {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(code)
		}))
		t.Cleanup(srv.Close)
		return srv.Listener.Addr().String()
	}
	ctx := func(t *testing.T) context.Context {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		t.Cleanup(cancel)
		return ctx
	}

	t.Run("ready", func(t *testing.T) {
		t.Parallel()
		if err := lifecycle.Probe(ctx(t), admin(t, http.StatusOK)); err != nil {
			t.Errorf("Probe of a ready server: %v, want nil", err)
		}
	})
	t.Run("ready, port only", func(t *testing.T) {
		t.Parallel()
		_, port, _ := net.SplitHostPort(admin(t, http.StatusOK))
		if err := lifecycle.Probe(ctx(t), ":"+port); err != nil {
			t.Errorf("Probe(%q): %v, want nil (the local host)", ":"+port, err)
		}
	})
	t.Run("not ready", func(t *testing.T) {
		t.Parallel()
		err := lifecycle.Probe(ctx(t), admin(t, http.StatusServiceUnavailable))
		if err == nil || !strings.Contains(err.Error(), "503") {
			t.Errorf("Probe of a 503 server: %v, want an error naming the status", err)
		}
	})
	t.Run("closed port", func(t *testing.T) {
		t.Parallel()
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := lis.Addr().String()
		lis.Close()
		if err := lifecycle.Probe(ctx(t), addr); err == nil {
			t.Errorf("Probe of closed port %s: nil, want an error", addr)
		}
	})
	t.Run("leaves no connection open", func(t *testing.T) {
		t.Parallel()
		// Probe makes its own client; a pooled keep-alive connection left
		// behind would live (with two goroutines) for the idle timeout.
		var open atomic.Int32
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				open.Add(1)
			case http.StateClosed, http.StateHijacked:
				open.Add(-1)
			}
		}
		srv.Start()
		t.Cleanup(srv.Close)
		if err := lifecycle.Probe(ctx(t), srv.Listener.Addr().String()); err != nil {
			t.Fatalf("Probe: %v", err)
		}
		deadline := time.Now().Add(2 * time.Second)
		for open.Load() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d connection(s) still open 2s after Probe returned, want 0", open.Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	t.Run("bad address", func(t *testing.T) {
		t.Parallel()
		if err := lifecycle.Probe(ctx(t), "nonsense"); err == nil || !strings.Contains(err.Error(), "nonsense") {
			t.Errorf("Probe(nonsense): %v, want an error naming the address", err)
		}
	})
}

func TestIsProbe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want bool
	}{
		{[]string{"/app", "healthcheck"}, true},
		{[]string{"/app", "healthcheck", "extra"}, true},
		{[]string{"/app"}, false},
		{[]string{"/app", "serve"}, false},
		{[]string{"healthcheck"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := lifecycle.IsProbe(tt.args); got != tt.want {
			t.Errorf("IsProbe(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}
