package inventory

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultSweepBatch is how many reservations one call to the Expirer may
// release. The service runs Sweep every RESERVATION_SWEEP_INTERVAL with
// lifecycle.Every.
const DefaultSweepBatch = 100

// Sweeper returns the stock of reservations that were never committed
// (DESIGN.md, order flow: "Reservations that are never committed expire").
// Each Sweep asks an Expirer for expired reservations in batches, until a
// batch comes back short. Every replica sweeps: the Expirer releases each
// reservation exactly once, whoever asks.
type Sweeper struct {
	expirer Expirer
	batch   int
	now     func() time.Time
}

// SweeperOption configures a Sweeper.
type SweeperOption func(*Sweeper)

// WithSweepBatch sets how many reservations one call to the Expirer may
// release (default 100), which bounds the length of each transaction.
func WithSweepBatch(n int) SweeperOption {
	return func(s *Sweeper) { s.batch = n }
}

// WithSweepClock sets the clock that says when "now" is (default time.Now).
func WithSweepClock(now func() time.Time) SweeperOption {
	return func(s *Sweeper) { s.now = now }
}

// NewSweeper returns a Sweeper over expirer.
func NewSweeper(expirer Expirer, opts ...SweeperOption) (*Sweeper, error) {
	if expirer == nil {
		return nil, errors.New("inventory: nil expirer")
	}
	s := &Sweeper{expirer: expirer, batch: DefaultSweepBatch, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	switch {
	case s.batch <= 0:
		return nil, fmt.Errorf("inventory: sweep batch %d: must be positive", s.batch)
	case s.now == nil:
		return nil, errors.New("inventory: nil sweeper clock")
	}
	return s, nil
}

// Sweep runs one pass: it releases every reservation expired by now, one
// batch at a time, and reports how many it released. It stops at the first
// error, keeping what earlier batches released.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	now := s.now()
	total := 0
	for {
		n, err := s.expirer.ReleaseExpired(ctx, now, s.batch)
		total += n
		if err != nil {
			return total, fmt.Errorf("release expired reservations: %w", err)
		}
		if n < s.batch {
			return total, nil
		}
	}
}
