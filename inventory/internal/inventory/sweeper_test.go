package inventory_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/inventory/internal/inventory"
	"github.com/shopmesh/shopmesh/inventory/internal/memstore"
)

// fakeExpirer is an inventory.Expirer whose answer is set per test.
type fakeExpirer struct {
	releaseExpired func(ctx context.Context, now time.Time, limit int) (int, error)
}

func (f *fakeExpirer) ReleaseExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	return f.releaseExpired(ctx, now, limit)
}

// newSweeper returns a Sweeper and fails the test if it cannot; the
// Sweeper is closed when the test ends.
func newSweeper(t *testing.T, e inventory.Expirer, opts ...inventory.SweeperOption) *inventory.Sweeper {
	t.Helper()
	sw, err := inventory.NewSweeper(e, opts...)
	if err != nil {
		t.Fatalf("NewSweeper: %v", err)
	}
	t.Cleanup(func() {
		if err := sw.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return sw
}

func TestNewSweeper_Invalid(t *testing.T) {
	t.Parallel()
	e := &fakeExpirer{}
	tests := []struct {
		name    string
		expirer inventory.Expirer
		opts    []inventory.SweeperOption
	}{
		{"nil expirer", nil, nil},
		{"zero interval", e, []inventory.SweeperOption{inventory.WithSweepInterval(0)}},
		{"negative interval", e, []inventory.SweeperOption{inventory.WithSweepInterval(-time.Second)}},
		{"zero batch", e, []inventory.SweeperOption{inventory.WithSweepBatch(0)}},
		{"nil clock", e, []inventory.SweeperOption{inventory.WithSweepClock(nil)}},
		{"nil logger", e, []inventory.SweeperOption{inventory.WithSweepLogger(nil)}},
	}
	for _, tt := range tests {
		if _, err := inventory.NewSweeper(tt.expirer, tt.opts...); err == nil {
			t.Errorf("%s: NewSweeper returned no error", tt.name)
		}
	}
}

func TestSweeper_Sweep(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return at }

	t.Run("asks batch after batch until one comes back short", func(t *testing.T) {
		t.Parallel()
		answers := []int{10, 10, 3}
		var calls int
		sw := newSweeper(t, &fakeExpirer{releaseExpired: func(_ context.Context, now time.Time, limit int) (int, error) {
			if !now.Equal(at) || limit != 10 {
				t.Errorf("call %d: got now %v limit %d, want %v and 10", calls+1, now, limit, at)
			}
			n := answers[calls]
			calls++
			return n, nil
		}}, inventory.WithSweepBatch(10), inventory.WithSweepClock(clock))
		n, err := sw.Sweep(context.Background())
		if err != nil {
			t.Fatalf("Sweep: %v", err)
		}
		if n != 23 || calls != 3 {
			t.Errorf("got %d released in %d calls, want 23 in 3", n, calls)
		}
	})

	t.Run("stops at an error and reports what was released", func(t *testing.T) {
		t.Parallel()
		boom := errors.New("boom")
		var calls int
		sw := newSweeper(t, &fakeExpirer{releaseExpired: func(context.Context, time.Time, int) (int, error) {
			calls++
			if calls == 2 {
				return 0, boom
			}
			return 5, nil
		}}, inventory.WithSweepBatch(5))
		n, err := sw.Sweep(context.Background())
		if !errors.Is(err, boom) || n != 5 || calls != 2 {
			t.Errorf("got %d released, error %v after %d calls; want 5, boom, 2", n, err, calls)
		}
	})

	t.Run("returns the stock of an expired reservation", func(t *testing.T) {
		t.Parallel()
		now := time.Now()
		store := memstore.New([]inventory.Product{{ID: "a", Name: "A", Price: inventory.Money{Currency: "EUR", Minor: 1}, Available: 3}},
			memstore.WithTTL(time.Minute), memstore.WithClock(func() time.Time { return now }))
		if _, err := store.Reserve(context.Background(), "ord-old", []inventory.Item{{ProductID: "a", Quantity: 2}}); err != nil {
			t.Fatalf("Reserve: %v", err)
		}
		sw := newSweeper(t, store, inventory.WithSweepClock(func() time.Time { return now.Add(time.Minute) }))
		if n, err := sw.Sweep(context.Background()); err != nil || n != 1 {
			t.Fatalf("Sweep: got %d released, error %v; want 1, nil", n, err)
		}
		if p, _ := store.GetProduct(context.Background(), "a"); p.Available != 3 {
			t.Errorf("got %d available, want 3", p.Available)
		}
	})
}

func TestSweeper_StartClose(t *testing.T) {
	t.Parallel()

	t.Run("sweeps at start and every interval until closed", func(t *testing.T) {
		t.Parallel()
		var mu sync.Mutex
		calls := 0
		third := make(chan struct{})
		sw := newSweeper(t, &fakeExpirer{releaseExpired: func(context.Context, time.Time, int) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if calls == 3 {
				close(third)
			}
			return 0, nil
		}}, inventory.WithSweepInterval(5*time.Millisecond))
		if err := sw.Start(context.Background()); err != nil {
			t.Fatalf("Start: %v", err)
		}
		select {
		case <-third:
		case <-time.After(10 * time.Second):
			t.Fatal("no third sweep within 10s")
		}
		if err := sw.Close(context.Background()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		mu.Lock()
		after := calls
		mu.Unlock()
		time.Sleep(30 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		if calls != after {
			t.Errorf("got %d sweeps after Close returned, want none", calls-after)
		}
	})

	t.Run("the first sweep runs at once", func(t *testing.T) {
		t.Parallel()
		swept := make(chan struct{}, 1)
		sw := newSweeper(t, &fakeExpirer{releaseExpired: func(context.Context, time.Time, int) (int, error) {
			select {
			case swept <- struct{}{}:
			default:
			}
			return 0, nil
		}}, inventory.WithSweepInterval(time.Hour))
		if err := sw.Start(context.Background()); err != nil {
			t.Fatalf("Start: %v", err)
		}
		select {
		case <-swept:
		case <-time.After(10 * time.Second):
			t.Fatal("no sweep within 10s of Start with an interval of an hour")
		}
	})

	t.Run("errors are retried at the next tick", func(t *testing.T) {
		t.Parallel()
		var mu sync.Mutex
		calls := 0
		recovered := make(chan struct{})
		sw := newSweeper(t, &fakeExpirer{releaseExpired: func(context.Context, time.Time, int) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			switch {
			case calls == 1:
				return 0, errors.New("database down")
			case calls == 2:
				close(recovered)
			}
			return 0, nil
		}}, inventory.WithSweepInterval(5*time.Millisecond))
		if err := sw.Start(context.Background()); err != nil {
			t.Fatalf("Start: %v", err)
		}
		select {
		case <-recovered:
		case <-time.After(10 * time.Second):
			t.Fatal("no sweep after a failed one within 10s")
		}
	})

	t.Run("Close cancels a sweep in flight and waits for it", func(t *testing.T) {
		t.Parallel()
		inFlight := make(chan struct{})
		returned := make(chan struct{})
		sw := newSweeper(t, &fakeExpirer{releaseExpired: func(ctx context.Context, _ time.Time, _ int) (int, error) {
			close(inFlight)
			<-ctx.Done()
			time.Sleep(10 * time.Millisecond) // a slow rollback
			close(returned)
			return 0, ctx.Err()
		}}, inventory.WithSweepInterval(time.Hour))
		if err := sw.Start(context.Background()); err != nil {
			t.Fatalf("Start: %v", err)
		}
		<-inFlight
		if err := sw.Close(context.Background()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		select {
		case <-returned:
		default:
			t.Error("Close returned before the sweep in flight did")
		}
	})

	t.Run("Close gives up when its context ends", func(t *testing.T) {
		t.Parallel()
		inFlight := make(chan struct{})
		unblock := make(chan struct{})
		sw := newSweeper(t, &fakeExpirer{releaseExpired: func(context.Context, time.Time, int) (int, error) {
			close(inFlight)
			<-unblock // ignores cancellation
			return 0, nil
		}})
		if err := sw.Start(context.Background()); err != nil {
			t.Fatalf("Start: %v", err)
		}
		<-inFlight
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		if err := sw.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close: got %v, want deadline exceeded", err)
		}
		close(unblock)
		// The cleanup's Close now finds the goroutine gone.
	})

	t.Run("the parent context stops it too", func(t *testing.T) {
		t.Parallel()
		sw := newSweeper(t, &fakeExpirer{releaseExpired: func(context.Context, time.Time, int) (int, error) { return 0, nil }},
			inventory.WithSweepInterval(time.Millisecond))
		ctx, cancel := context.WithCancel(context.Background())
		if err := sw.Start(ctx); err != nil {
			t.Fatalf("Start: %v", err)
		}
		cancel()
		// Close still waits for the goroutine, which has seen ctx end.
	})

	t.Run("Start twice, Start after Close, Close twice, Close unstarted", func(t *testing.T) {
		t.Parallel()
		e := &fakeExpirer{releaseExpired: func(context.Context, time.Time, int) (int, error) { return 0, nil }}
		sw := newSweeper(t, e)
		if err := sw.Start(context.Background()); err != nil {
			t.Fatalf("Start: %v", err)
		}
		if err := sw.Start(context.Background()); err == nil {
			t.Error("second Start returned no error")
		}
		for i := range 2 {
			if err := sw.Close(context.Background()); err != nil {
				t.Errorf("Close #%d: %v", i+1, err)
			}
		}
		if err := sw.Start(context.Background()); err == nil {
			t.Error("Start after Close returned no error")
		}
		unstarted := newSweeper(t, e)
		if err := unstarted.Close(context.Background()); err != nil {
			t.Errorf("Close without Start: %v", err)
		}
	})
}
