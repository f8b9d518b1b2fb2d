package deadline_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/deadline"
)

// budgetOf returns the time until ctx's deadline, rounded to 10ms so the
// test's own run time does not show.
func budgetOf(t *testing.T, ctx context.Context) time.Duration {
	t.Helper()
	dl, ok := ctx.Deadline()
	if !ok {
		t.Fatal("context has no deadline")
	}
	return time.Until(dl).Round(10 * time.Millisecond)
}

func withTimeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestHop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		ctx   func(t *testing.T) context.Context
		limit time.Duration
		want  time.Duration
	}{
		{"no deadline: the hop's cap", func(t *testing.T) context.Context { return t.Context() }, time.Second, time.Second},
		{"plenty left: the hop's cap", func(t *testing.T) context.Context { return withTimeout(t, 10*time.Second) }, time.Second, time.Second},
		{"less left than the cap: what is left", func(t *testing.T) context.Context { return withTimeout(t, 500*time.Millisecond) }, time.Second, 500 * time.Millisecond},
		{"what the caller keeps is not given away", func(t *testing.T) context.Context {
			return deadline.Keep(withTimeout(t, 2*time.Second), 1500*time.Millisecond)
		}, time.Second, 500 * time.Millisecond},
		{"keeps add up", func(t *testing.T) context.Context {
			return deadline.Keep(deadline.Keep(withTimeout(t, 2*time.Second), time.Second), 700*time.Millisecond)
		}, time.Second, 300 * time.Millisecond},
		{"a keep below the cap's margin changes nothing", func(t *testing.T) context.Context {
			return deadline.Keep(withTimeout(t, 5*time.Second), time.Second)
		}, time.Second, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hop, cancel, err := deadline.Hop(tt.ctx(t), tt.limit)
			defer cancel()
			if err != nil {
				t.Fatalf("Hop: %v", err)
			}
			if got := budgetOf(t, hop); got != tt.want {
				t.Errorf("hop budget %v, want %v", got, tt.want)
			}
			if got := deadline.Kept(hop); got != 0 {
				t.Errorf("the hop's context keeps %v, want 0: the callee's budget starts fresh", got)
			}
		})
	}
}

func TestHop_Exhausted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ctx  context.Context //shopmesh:allow ctxparam a test table's cases, each used by its own subtest
	}{
		{"deadline passed", withTimeout(t, -time.Second)},
		{"less than MinBudget left", withTimeout(t, deadline.MinBudget/2)},
		{"everything left is kept", deadline.Keep(withTimeout(t, time.Second), time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, cancel, err := deadline.Hop(tt.ctx, time.Second)
			cancel()
			if !errors.Is(err, deadline.ErrExhausted) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("got %v, want ErrExhausted wrapping context.DeadlineExceeded", err)
			}
		})
	}
	t.Run("a limit that is not positive", func(t *testing.T) {
		t.Parallel()
		_, cancel, err := deadline.Hop(t.Context(), 0)
		cancel()
		if err == nil || errors.Is(err, deadline.ErrExhausted) {
			t.Errorf("got %v, want an error about the limit", err)
		}
	})
}

func TestKeep_WithoutDeadline(t *testing.T) {
	t.Parallel()
	if got := deadline.Kept(deadline.Keep(t.Context(), time.Second)); got != 0 {
		t.Errorf("a context without a deadline keeps %v, want 0", got)
	}
	if _, ok := deadline.Left(t.Context()); ok {
		t.Error("Left reports a deadline for a context without one")
	}
}

func TestLeft(t *testing.T) {
	t.Parallel()
	ctx := deadline.Keep(withTimeout(t, 2*time.Second), 500*time.Millisecond)
	left, ok := deadline.Left(ctx)
	if !ok || left.Round(10*time.Millisecond) != 1500*time.Millisecond {
		t.Errorf("Left = %v, %v; want 1.5s, true", left, ok)
	}
}

type traceKey struct{}

func TestDetach(t *testing.T) {
	t.Parallel()
	parent, cancelParent := context.WithTimeout(context.WithValue(t.Context(), traceKey{}, "trace-1"), time.Millisecond)
	parent = deadline.Keep(parent, time.Hour)
	cancelParent()

	ctx, cancel := deadline.Detach(parent, time.Second)
	defer cancel()
	if err := ctx.Err(); err != nil {
		t.Fatalf("detached context is done (%v) with its parent", err)
	}
	if got := budgetOf(t, ctx); got != time.Second {
		t.Errorf("detached budget %v, want its own 1s", got)
	}
	if got := ctx.Value(traceKey{}); got != "trace-1" {
		t.Errorf("detached context lost its values: got %v", got)
	}
	if got := deadline.Kept(ctx); got != 0 {
		t.Errorf("detached context keeps %v of its parent's, want 0", got)
	}
}
