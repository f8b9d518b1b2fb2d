package inventory_test

import (
	"context"
	"errors"
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

// newSweeper returns a Sweeper and fails the test if it cannot.
func newSweeper(t *testing.T, e inventory.Expirer, opts ...inventory.SweeperOption) *inventory.Sweeper {
	t.Helper()
	sw, err := inventory.NewSweeper(e, opts...)
	if err != nil {
		t.Fatalf("NewSweeper: %v", err)
	}
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
		{"zero batch", e, []inventory.SweeperOption{inventory.WithSweepBatch(0)}},
		{"nil clock", e, []inventory.SweeperOption{inventory.WithSweepClock(nil)}},
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
