package lifecycle_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"
)

// every starts pass every interval and closes it when the test ends.
func every(t *testing.T, ctx context.Context, interval time.Duration, pass lifecycle.Pass) *lifecycle.Periodic {
	t.Helper()
	p, err := lifecycle.Every(ctx, "test pass", interval, slog.New(slog.DiscardHandler), pass)
	if err != nil {
		t.Fatalf("Every: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// counter counts passes.
type counter struct {
	mu    sync.Mutex
	calls int
}

func (c *counter) add() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	return c.calls
}

func (c *counter) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10s", what)
	}
}

func TestEvery(t *testing.T) {
	t.Parallel()
	noop := func(context.Context) (int, error) { return 0, nil }

	t.Run("refuses what it cannot run", func(t *testing.T) {
		t.Parallel()
		logger := slog.New(slog.DiscardHandler)
		for name, start := range map[string]func() (*lifecycle.Periodic, error){
			"zero interval": func() (*lifecycle.Periodic, error) { return lifecycle.Every(t.Context(), "p", 0, logger, noop) },
			"negative interval": func() (*lifecycle.Periodic, error) {
				return lifecycle.Every(t.Context(), "p", -time.Second, logger, noop)
			},
			"no pass": func() (*lifecycle.Periodic, error) {
				return lifecycle.Every(t.Context(), "p", time.Second, logger, nil)
			},
			"no logger": func() (*lifecycle.Periodic, error) { return lifecycle.Every(t.Context(), "p", time.Second, nil, noop) },
			"no name": func() (*lifecycle.Periodic, error) {
				return lifecycle.Every(t.Context(), "", time.Second, logger, noop)
			},
		} {
			if p, err := start(); err == nil {
				_ = p.Close(t.Context())
				t.Errorf("%s: Every returned no error", name)
			}
		}
	})

	t.Run("runs at once and every interval until closed", func(t *testing.T) {
		t.Parallel()
		var c counter
		third := make(chan struct{})
		p := every(t, context.Background(), 5*time.Millisecond, func(context.Context) (int, error) {
			if c.add() == 3 {
				close(third)
			}
			return 0, nil
		})
		wait(t, third, "third pass")
		if err := p.Close(context.Background()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		after := c.get()
		time.Sleep(30 * time.Millisecond)
		if n := c.get() - after; n != 0 {
			t.Errorf("%d passes after Close returned, want none", n)
		}
	})

	t.Run("the first pass runs at once", func(t *testing.T) {
		t.Parallel()
		ran := make(chan struct{})
		var once sync.Once
		every(t, context.Background(), time.Hour, func(context.Context) (int, error) {
			once.Do(func() { close(ran) })
			return 0, nil
		})
		wait(t, ran, "pass with an interval of an hour")
	})

	t.Run("a failed pass is tried again at the next tick", func(t *testing.T) {
		t.Parallel()
		var c counter
		again := make(chan struct{})
		every(t, context.Background(), 5*time.Millisecond, func(context.Context) (int, error) {
			switch c.add() {
			case 1:
				return 0, errors.New("database down")
			case 2:
				close(again)
			}
			return 0, nil
		})
		wait(t, again, "pass after a failed one")
	})

	t.Run("Close cancels a pass in flight and waits for it", func(t *testing.T) {
		t.Parallel()
		inFlight, returned := make(chan struct{}), make(chan struct{})
		p := every(t, context.Background(), time.Hour, func(ctx context.Context) (int, error) {
			close(inFlight)
			<-ctx.Done()
			time.Sleep(10 * time.Millisecond) // a slow rollback
			close(returned)
			return 0, ctx.Err()
		})
		<-inFlight
		if err := p.Close(context.Background()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		select {
		case <-returned:
		default:
			t.Error("Close returned before the pass in flight did")
		}
	})

	t.Run("Close gives up when its context ends", func(t *testing.T) {
		t.Parallel()
		inFlight, unblock := make(chan struct{}), make(chan struct{})
		p := every(t, context.Background(), time.Hour, func(context.Context) (int, error) {
			close(inFlight)
			<-unblock // ignores cancellation
			return 0, nil
		})
		<-inFlight
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		if err := p.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close: got %v, want deadline exceeded", err)
		}
		close(unblock) // the cleanup's Close now finds the goroutine gone
	})

	t.Run("the parent context stops it too, and Close may be called twice", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		p := every(t, ctx, time.Millisecond, noop)
		cancel()
		if err := p.Close(context.Background()); err != nil {
			t.Errorf("Close after the parent ended: %v", err)
		}
	})
}
