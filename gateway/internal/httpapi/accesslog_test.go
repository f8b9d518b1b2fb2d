package httpapi_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/overload"

	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
)

// syncBuffer is a bytes.Buffer the handler's goroutines may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// Reset forgets what was written.
func (s *syncBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAPI_AccessLogLevel: a request refused before any work is logged at
// debug, so an overload's refusals do not take the CPU the admitted orders
// need; every other request, a failed one included, at info.
func TestAPI_AccessLogLevel(t *testing.T) {
	t.Parallel()
	refusal := grpcx.ToStatus(apperr.New(apperr.Unavailable, "inventory is at capacity").WithReason(overload.Reason)).Err()
	outage := grpcx.ToStatus(apperr.New(apperr.Unavailable, "database unreachable")).Err()
	for _, tc := range []struct {
		name      string
		err       error
		requests  int
		wantCode  int
		wantLevel string
	}{
		{"served", nil, 1, http.StatusOK, "INFO"},
		{"a peer at capacity", refusal, 1, http.StatusServiceUnavailable, "DEBUG"},
		{"a peer's outage", outage, 1, http.StatusServiceUnavailable, "INFO"},
		// The second request of a client with a burst of one.
		{"over the client's rate", nil, 2, http.StatusTooManyRequests, "DEBUG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out syncBuffer
			logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
			inv := &fakeInventory{listProducts: func(context.Context, *inventoryv1.ListProductsRequest) (*inventoryv1.ListProductsResponse, error) {
				return &inventoryv1.ListProductsResponse{}, tc.err
			}}
			h := newLoggingHandler(t, logger, inv, nil, withRateLimit(0.001, 1))
			var code int
			for range tc.requests {
				out.Reset()
				code = serve(t, h, http.MethodGet, "/v1/products", nil, "").Code
			}
			if code != tc.wantCode {
				t.Fatalf("got %d, want %d", code, tc.wantCode)
			}
			line := out.String()
			if !strings.Contains(line, `msg="http request"`) || !strings.Contains(line, "level="+tc.wantLevel+" ") {
				t.Errorf("want the request logged at %s, got:\n%s", tc.wantLevel, line)
			}
		})
	}
}
