package overload

import (
	"container/list"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// How an adaptiveLimit measures and moves.
const (
	// A window closes, and the limit moves, once it holds windowSamples
	// calls and spans windowSpan, or spans windowMaxSpan with at least
	// windowMinSamples (a quiet route still adapts).
	windowSamples    = 20
	windowSpan       = 100 * time.Millisecond
	windowMaxSpan    = 2 * time.Second
	windowMinSamples = 5
	// The floor is the lowest window median of the last floorBuckets ×
	// floorBucket: what the work takes when nothing queues for the CPU or
	// the database. A minimum, not an average, so that a server started
	// under load does not take the overload for normal once it has seen
	// one quieter window; a bounded span, so that work that became
	// costlier for good (a bigger table) is the new normal after minutes.
	floorBucket  = 30 * time.Second
	floorBuckets = 10
	// tolerance is how much slower than the floor the median may get
	// before the limit is cut, and slack how much slower it may always get:
	// a route whose work takes microseconds would otherwise be cut by
	// scheduling noise nobody waits for. backoff is how much a cut takes.
	tolerance = 1.5
	slack     = time.Millisecond
	backoff   = 0.9
)

// errWaitExceeded is the error of a call that waited its whole wait for a
// permit in vain.
var errWaitExceeded = errors.New("no permit within the wait")

// adaptiveLimit is one route's concurrency limit, moved by the latency of
// the work it admits: while the limit is in use (at least half of it at
// some point of a window), it grows by one permit a window while the median
// call takes less than tolerance × the floor, and shrinks by a tenth when
// the median takes longer. It is the
// latency-based limit of Netflix's concurrency-limits (Vegas, Gradient),
// with the floor as its no-load latency. Calls over the limit wait in order
// of arrival (FIFO), urgent ones (work that is already under way) ahead of
// the rest. It is safe for concurrent use.
type adaptiveLimit struct {
	min, max int
	now      func() time.Time
	logger   *slog.Logger // nil: limit changes are not logged

	mu   sync.Mutex
	size int
	used int
	// urgent and queue hold a chan struct{} per waiting call, closed to
	// admit it; urgent calls are admitted first.
	urgent, queue list.List
	win           window
	floor         floor
}

// window is the calls measured since the limit last moved.
type window struct {
	start   time.Time
	samples []time.Duration
	maxUsed int
}

func newAdaptiveLimit(minLimit, maxLimit, initial int, now func() time.Time) *adaptiveLimit {
	return &adaptiveLimit{min: minLimit, max: maxLimit, size: initial, now: now}
}

// tryAcquire takes a permit if one is free and nobody waits for one.
func (l *adaptiveLimit) tryAcquire() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.used >= l.size || l.waiting() > 0 {
		return false
	}
	l.take()
	return true
}

// acquire takes a permit, waiting in line for at most wait, behind the
// urgent calls waiting if urgent, else behind every call waiting; it fails
// with errWaitExceeded, or ctx's error when ctx ends first. When both have
// ended by the time the waiter runs (a busy machine wakes it late), the
// wait, being the earlier, is the reason: the caller learns it was
// refused, not that it ran out of time.
func (l *adaptiveLimit) acquire(ctx context.Context, wait time.Duration, urgent bool) error {
	l.mu.Lock()
	if l.used < l.size && l.waiting() == 0 {
		l.take()
		l.mu.Unlock()
		return nil
	}
	line := &l.queue
	if urgent {
		line = &l.urgent
	}
	admit := make(chan struct{})
	e := line.PushBack(admit)
	l.mu.Unlock()

	timer := time.NewTimer(wait)
	defer timer.Stop()
	var err error
	select {
	case <-admit:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
		select {
		case <-timer.C:
			err = errWaitExceeded
		default:
		}
	case <-timer.C:
		err = errWaitExceeded
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-admit: // admitted while giving up: keep the permit
		return nil
	default:
		line.Remove(e)
		return err
	}
}

// waiting returns how many calls wait for a permit; l.mu is held.
func (l *adaptiveLimit) waiting() int { return l.urgent.Len() + l.queue.Len() }

// take counts one more permit in use; l.mu is held.
func (l *adaptiveLimit) take() {
	l.used++
	l.win.maxUsed = max(l.win.maxUsed, l.used)
}

// release gives a permit back. A positive work is a sample of what one
// call admitted by the limit takes; zero moves nothing (a call that goes on
// later, or was cut short).
func (l *adaptiveLimit) release(work time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.used--
	if work > 0 {
		l.record(now, work)
	}
	l.admitWaiting()
}

// measure records what one call took that holds no permit now (its
// permit went back while it waited for a peer, and it ended there).
func (l *adaptiveLimit) measure(work time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.record(now, work)
	l.admitWaiting()
}

// admitWaiting hands free permits to the urgent calls waiting longest,
// then to the others; l.mu is held.
func (l *adaptiveLimit) admitWaiting() {
	for l.used < l.size && l.waiting() > 0 {
		line := &l.urgent
		if line.Len() == 0 {
			line = &l.queue
		}
		l.take()
		close(line.Remove(line.Front()).(chan struct{}))
	}
}

// record adds one call's latency to the window and moves the limit when
// the window is full; l.mu is held.
func (l *adaptiveLimit) record(now time.Time, rtt time.Duration) {
	w := &l.win
	if w.start.IsZero() {
		w.start = now
	}
	w.samples = append(w.samples, rtt)
	span, n := now.Sub(w.start), len(w.samples)
	if !(n >= windowSamples && span >= windowSpan || n >= windowMinSamples && span >= windowMaxSpan) {
		return
	}
	slices.Sort(w.samples)
	median := w.samples[n/2]
	floor := l.floor.add(now, median)
	old := l.size
	// Move only a limit that is in use. Calls slower while the limit is
	// far from full were not slowed by what it let in, and an idle server
	// keeps the limit it proved rather than one no load ever tested.
	switch {
	case 2*w.maxUsed < l.size:
	case median > max(time.Duration(tolerance*float64(floor)), floor+slack):
		l.size = max(l.min, min(l.size-1, int(float64(l.size)*backoff)))
	default:
		l.size = min(l.max, l.size+1)
	}
	if l.size != old && l.logger != nil {
		l.logger.Debug("concurrency limit changed", "from", old, "to", l.size,
			"median", median, "floor", floor, "max_inflight", w.maxUsed, "samples", n)
	}
	w.start, w.samples, w.maxUsed = now, w.samples[:0], l.used
}

// limit returns the current limit.
func (l *adaptiveLimit) limit() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size
}

// inflight returns how many permits are in use.
func (l *adaptiveLimit) inflight() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.used
}

// queued returns how many calls wait for a permit.
func (l *adaptiveLimit) queued() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waiting()
}

// floor keeps the lowest window median per floorBucket of time.
type floor struct {
	buckets [floorBuckets]struct {
		start time.Time
		min   time.Duration
	}
	i int
}

// add records a window's median and returns the lowest median of the last
// floorBuckets buckets, this one included.
func (f *floor) add(now time.Time, median time.Duration) time.Duration {
	b := &f.buckets[f.i]
	switch {
	case b.start.IsZero():
		b.start, b.min = now, median
	case now.Sub(b.start) >= floorBucket:
		f.i = (f.i + 1) % floorBuckets
		b = &f.buckets[f.i]
		b.start, b.min = now, median
	default:
		b.min = min(b.min, median)
	}
	lowest := median
	for _, b := range f.buckets {
		if !b.start.IsZero() && now.Sub(b.start) < floorBuckets*floorBucket {
			lowest = min(lowest, b.min)
		}
	}
	return lowest
}
