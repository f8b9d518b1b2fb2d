package inventory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Defaults of a Sweeper.
const (
	DefaultSweepInterval = 30 * time.Second
	DefaultSweepBatch    = 100
)

// Sweeper returns the stock of reservations that were never committed
// (DESIGN.md, order flow: "Reservations that are never committed expire").
// Every interval it asks an Expirer for expired reservations in batches,
// until a batch comes back short. Every replica runs one: the Expirer
// releases each reservation exactly once, whoever asks.
//
// The goroutine Start launches is owned by the Sweeper; Close stops it and
// waits for it.
type Sweeper struct {
	expirer  Expirer
	interval time.Duration
	batch    int
	now      func() time.Time
	logger   *slog.Logger

	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// SweeperOption configures a Sweeper.
type SweeperOption func(*Sweeper)

// WithSweepInterval sets the time between two sweeps (default 30s).
func WithSweepInterval(d time.Duration) SweeperOption {
	return func(s *Sweeper) { s.interval = d }
}

// WithSweepBatch sets how many reservations one call to the Expirer may
// release (default 100), which bounds the length of each transaction.
func WithSweepBatch(n int) SweeperOption {
	return func(s *Sweeper) { s.batch = n }
}

// WithSweepClock sets the clock that says when "now" is (default time.Now).
func WithSweepClock(now func() time.Time) SweeperOption {
	return func(s *Sweeper) { s.now = now }
}

// WithSweepLogger sets the logger (default: discard).
func WithSweepLogger(l *slog.Logger) SweeperOption {
	return func(s *Sweeper) { s.logger = l }
}

// NewSweeper returns a stopped Sweeper over expirer.
func NewSweeper(expirer Expirer, opts ...SweeperOption) (*Sweeper, error) {
	if expirer == nil {
		return nil, errors.New("inventory: nil expirer")
	}
	s := &Sweeper{
		expirer:  expirer,
		interval: DefaultSweepInterval,
		batch:    DefaultSweepBatch,
		now:      time.Now,
		logger:   slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(s)
	}
	switch {
	case s.interval <= 0:
		return nil, fmt.Errorf("inventory: sweep interval %v: must be positive", s.interval)
	case s.batch <= 0:
		return nil, fmt.Errorf("inventory: sweep batch %d: must be positive", s.batch)
	case s.now == nil || s.logger == nil:
		return nil, errors.New("inventory: nil sweeper clock or logger")
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

// Start sweeps at once and then every interval, in a goroutine, until
// Close is called or ctx ends. It returns an error when called twice or
// after Close.
func (s *Sweeper) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return errors.New("inventory: sweeper already started or closed")
	}
	s.started = true
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go s.loop(ctx)
	return nil
}

func (s *Sweeper) loop(ctx context.Context) {
	defer close(s.done)
	ticker := time.NewTicker(s.interval)
	defer ticker.Stop()
	for {
		n, err := s.Sweep(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			// The next tick tries again; a database that is down for a
			// while only delays the release.
			s.logger.WarnContext(ctx, "reservation sweep failed", "err", err, "released", n)
		case n > 0:
			s.logger.InfoContext(ctx, "expired reservations released", "released", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// Close stops the sweeping goroutine and waits for it to return, or for ctx
// to end. It is safe to call more than once, and without Start.
func (s *Sweeper) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("inventory: sweeper did not stop: %w", ctx.Err())
	}
}
