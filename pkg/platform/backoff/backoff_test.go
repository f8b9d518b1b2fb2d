package backoff_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shopmesh/shopmesh/pkg/platform/backoff"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDelay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n        int
		min, max time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 200 * time.Millisecond, 400 * time.Millisecond},
		{4, 250 * time.Millisecond, 500 * time.Millisecond}, // capped
		{40, 250 * time.Millisecond, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		for range 50 {
			if d := backoff.Delay(100*time.Millisecond, 500*time.Millisecond, tt.n); d < tt.min || d > tt.max {
				t.Fatalf("Delay(100ms, 500ms, %d) = %v, want in [%v, %v]", tt.n, d, tt.min, tt.max)
			}
		}
	}
	if d := backoff.Delay(0, 0, 3); d != 0 {
		t.Errorf("Delay with no wait configured = %v, want 0", d)
	}
}

func TestSleep(t *testing.T) {
	t.Parallel()
	if !backoff.Sleep(t.Context(), time.Millisecond) {
		t.Error("Sleep with a live context did not wait the full time")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	start := time.Now()
	if backoff.Sleep(ctx, time.Hour) || time.Since(start) > time.Second {
		t.Error("Sleep with a cancelled context waited")
	}
}
