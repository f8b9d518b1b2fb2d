package order

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/backoff"
	"github.com/shopmesh/shopmesh/pkg/platform/deadline"
	"github.com/shopmesh/shopmesh/pkg/platform/overload"
)

// Default spacing of a run's retries after a step whose peer failed or did
// not answer: soon enough that a flaky peer costs a request a few hundred
// milliseconds, spaced enough that a peer that is down is not stormed.
const (
	DefaultRetryFirst = 100 * time.Millisecond
	DefaultRetryMax   = 2 * time.Second
)

// runs owns the sagas that go on in the background after the request that
// started them has been answered (DESIGN.md: an order that cannot finish
// inside the request's budget is answered 202 and finished in the
// background). Every run is a goroutine counted in wg; Close stops them.
type runs struct {
	wg sync.WaitGroup

	mu       sync.Mutex
	draining bool
	drain    chan struct{} // closed by Close: finish the step at hand, retry no more
	stopOnce sync.Once
	stop     chan struct{} // closed when Close stops waiting: cancel the runs
}

func newRuns() runs {
	return runs{drain: make(chan struct{}), stop: make(chan struct{})}
}

// result is how a run ended: the order as it left it, and why it stopped
// short of a final state (nil once the order is final).
type result struct {
	order Order
	err   error
}

// start drives o, which this call has claimed, to a final state in a
// goroutine of its own, within the claim, retrying failed steps. ctx gives
// the run its values (trace, logger fields) but not its deadline or
// cancellation: the run outlives the request. It returns the channel the
// run's result arrives on, or false when the service is closing and nothing
// was started.
func (s *Service) start(ctx context.Context, o Order) (<-chan result, bool) {
	s.runs.mu.Lock()
	defer s.runs.mu.Unlock()
	if s.runs.draining {
		return nil, false
	}
	done := make(chan result, 1)
	runCtx, cancel := deadline.Detach(ctx, o.ClaimedUntil.Sub(s.clock()))
	// The saga takes over the permit of the call that admitted it, on this
	// server's limit; its steps are continuing work at the peers, queued
	// rather than refused (platform/overload).
	runCtx, release := overload.Handoff(runCtx)
	s.runs.wg.Go(func() {
		defer cancel()
		defer release()
		// The run owns this watcher; it ends with the run.
		go func() {
			select {
			case <-s.runs.stop:
				cancel()
			case <-runCtx.Done():
			}
		}()
		o, err := s.drive(runCtx, o, true)
		done <- result{o, err}
	})
	return done, true
}

// await waits for a run's result until ctx's deadline, keeping time to
// answer. An order the run has not finished by then is returned as it is,
// PENDING, without an error: it is recorded, and the run (or recovery)
// finishes it.
func (s *Service) await(ctx context.Context, o Order, done <-chan result) (Order, error) {
	var expired <-chan time.Time
	if left, ok := deadline.Left(deadline.Keep(ctx, api.AnswerBudget)); ok {
		t := time.NewTimer(left)
		defer t.Stop()
		expired = t.C
	}
	select {
	case r := <-done:
		if errors.Is(r.err, ErrStale) {
			return s.current(ctx, r.order)
		}
		// A run that stopped short (its claim ran out, or the service is
		// stopping) leaves the order PENDING for recovery: still accepted.
		return r.order, outcomeError(r.order)
	case <-expired:
		return o, nil
	case <-ctx.Done():
		return o, ctx.Err()
	}
}

// drive runs the saga for an order this run has claimed, for no longer than
// the claim lasts (ctx's deadline). With retry, a failed step is tried
// again after a backoff, from the order as stored, until the order is final
// or ctx ends; without, drive makes one attempt (the recovery loop, which
// comes back on its next pass). When it stops short it gives the claim up,
// so another run can continue at once.
func (s *Service) drive(ctx context.Context, o Order, retry bool) (Order, error) {
	var err error
	for failures := 1; ; failures++ {
		o, err = s.step(ctx, o)
		if err == nil || errors.Is(err, ErrStale) {
			return o, err
		}
		if !retry || !s.pause(ctx, failures) {
			break
		}
		s.logger.InfoContext(ctx, "retrying the saga of an order", "order_id", o.ID, "attempt", failures+1, "err", err)
		if o, err = s.reload(ctx, o, failures); err != nil {
			if errors.Is(err, ErrStale) {
				return o, err
			}
			break
		}
		if !o.Status.InFlight() {
			return o, nil
		}
	}
	s.giveUp(ctx, &o, err)
	return o, err
}

// step runs what o's status calls for: the placement's saga, or the
// cancellation.
func (s *Service) step(ctx context.Context, o Order) (Order, error) {
	if o.Status == Cancelling {
		return s.runCancel(ctx, o)
	}
	return s.runSaga(ctx, o)
}

// reload reads o back after a failed step, so the next attempt starts from
// what is stored (a failed record may or may not have been written). It
// keeps trying while the store fails, and fails with ErrStale when another
// run holds the order now.
func (s *Service) reload(ctx context.Context, o Order, failures int) (Order, error) {
	for {
		cur, err := s.get(ctx, o.ID)
		switch {
		case err == nil && cur.Status == Pending && !cur.ClaimedUntil.Equal(o.ClaimedUntil):
			return cur, ErrStale
		case err == nil:
			return cur, nil
		}
		failures++
		if !s.pause(ctx, failures) {
			return o, fmt.Errorf("reload order %s: %w", o.ID, err)
		}
	}
}

// pause waits before retry number failures; it reports false when the run
// should stop instead: its claim ends before the wait would, or the service
// is closing.
func (s *Service) pause(ctx context.Context, failures int) bool {
	wait := backoff.Delay(s.retryFirst, s.retryMax, failures)
	if left, ok := deadline.Left(ctx); ok && left <= wait {
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.runs.drain:
	}
	return false
}

// Close stops the runs in the background: each finishes the step at hand
// and retries no more, giving its claim up for another replica. It waits
// for them until ctx is done, then cancels what is left. Place starts no
// run after Close; its signature fits lifecycle.Closer.
func (s *Service) Close(ctx context.Context) error {
	s.runs.mu.Lock()
	if !s.runs.draining {
		s.runs.draining = true
		close(s.runs.drain)
	}
	s.runs.mu.Unlock()
	stopped := make(chan struct{})
	go func() { s.runs.wg.Wait(); close(stopped) }()
	select {
	case <-stopped:
		return nil
	case <-ctx.Done():
		s.runs.stopOnce.Do(func() { close(s.runs.stop) })
		return fmt.Errorf("order: sagas still running when the shutdown budget ended, cancelled: %w", ctx.Err())
	}
}
