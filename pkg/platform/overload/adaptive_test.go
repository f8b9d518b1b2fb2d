package overload

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// fakeClock is the time an adaptiveLimit reads in these tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestLimit(minLimit, maxLimit, initial int) (*adaptiveLimit, *fakeClock) {
	c := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	return newAdaptiveLimit(minLimit, maxLimit, initial, c.now), c
}

// runWindow runs one measuring window through l: windowSamples calls, inflight
// of them holding a permit at once, each reporting work.
func runWindow(t *testing.T, l *adaptiveLimit, c *fakeClock, inflight int, work time.Duration) {
	t.Helper()
	if inflight < 1 || inflight > windowSamples/2 {
		t.Fatalf("runWindow: inflight %d, want 1..%d so the window spans two batches", inflight, windowSamples/2)
	}
	for done := 0; done < windowSamples; {
		n := min(inflight, windowSamples-done)
		for i := range n {
			if !l.tryAcquire() {
				t.Fatalf("permit %d of %d refused at limit %d", i+1, n, l.limit())
			}
		}
		c.advance(windowSpan)
		for range n {
			l.release(work)
		}
		done += n
	}
}

func TestAdaptiveLimit_Moves(t *testing.T) {
	t.Parallel()

	t.Run("grows by one a window while the median holds and the limit is in use", func(t *testing.T) {
		t.Parallel()
		l, c := newTestLimit(2, 100, 10)
		for want := 11; want <= 13; want++ {
			runWindow(t, l, c, 7, 20*time.Millisecond)
			if got := l.limit(); got != want {
				t.Fatalf("limit after a window at half the limit, latency steady: %d, want %d", got, want)
			}
		}
	})

	t.Run("shrinks by a tenth when the median passes 1.5 times the floor", func(t *testing.T) {
		t.Parallel()
		l, c := newTestLimit(2, 100, 16)
		runWindow(t, l, c, 10, 20*time.Millisecond) // the floor: 20ms; the limit grows to 17
		runWindow(t, l, c, 10, 29*time.Millisecond) // within tolerance: 18
		if got := l.limit(); got != 18 {
			t.Fatalf("limit after a window at 1.45 times the floor: %d, want 18", got)
		}
		runWindow(t, l, c, 10, 31*time.Millisecond)
		if got := l.limit(); got != 16 {
			t.Errorf("limit after a window at 1.55 times the floor: %d, want 16 (18 less a tenth)", got)
		}
	})

	t.Run("a limit far from full does not move, whatever the latency", func(t *testing.T) {
		t.Parallel()
		l, c := newTestLimit(2, 100, 20)
		runWindow(t, l, c, 9, 10*time.Millisecond) // 9 < 20/2: the floor is learned, nothing moves
		runWindow(t, l, c, 9, time.Second)
		if got := l.limit(); got != 20 {
			t.Errorf("limit after idle windows: %d, want 20", got)
		}
	})

	t.Run("microseconds of scheduling noise are not overload", func(t *testing.T) {
		t.Parallel()
		l, c := newTestLimit(2, 100, 10)
		runWindow(t, l, c, 6, 20*time.Microsecond)
		runWindow(t, l, c, 6, 300*time.Microsecond) // 15 times the floor, but 280µs
		if got := l.limit(); got != 12 {
			t.Errorf("limit: %d, want 12 (grown twice)", got)
		}
	})

	t.Run("never below the minimum nor above the maximum", func(t *testing.T) {
		t.Parallel()
		l, c := newTestLimit(2, 4, 4)
		runWindow(t, l, c, 2, time.Millisecond)
		runWindow(t, l, c, 2, time.Millisecond)
		if got := l.limit(); got != 4 {
			t.Errorf("limit grown past the maximum: %d, want 4", got)
		}
		for range 5 {
			runWindow(t, l, c, 2, time.Second)
		}
		if got := l.limit(); got != 2 {
			t.Errorf("limit after slow windows: %d, want the minimum 2", got)
		}
	})

	t.Run("the floor is the lowest median of the last five minutes", func(t *testing.T) {
		t.Parallel()
		l, c := newTestLimit(2, 100, 10)
		runWindow(t, l, c, 5, 10*time.Millisecond) // floor 10ms; 11
		c.advance(2 * time.Minute)
		runWindow(t, l, c, 6, 40*time.Millisecond) // still measured against 10ms: 9
		if got := l.limit(); got != 9 {
			t.Fatalf("limit two minutes after a 10ms floor, at 40ms: %d, want 9", got)
		}
		c.advance(floorBuckets * floorBucket)
		runWindow(t, l, c, 5, 40*time.Millisecond) // 10ms is forgotten: 40ms is the floor now
		runWindow(t, l, c, 5, 40*time.Millisecond)
		if got := l.limit(); got != 11 {
			t.Errorf("limit once the old floor aged out: %d, want 11 (grown twice)", got)
		}
	})
}

func TestAdaptiveLimit_Queue(t *testing.T) {
	t.Parallel()

	t.Run("waiting calls get permits in order of arrival", func(t *testing.T) {
		t.Parallel()
		l, _ := newTestLimit(1, 1, 1)
		if !l.tryAcquire() {
			t.Fatal("the only permit refused")
		}
		order := make(chan int, 3)
		for i := range 3 {
			go func() {
				if err := l.acquire(t.Context(), time.Hour, false); err == nil {
					order <- i
				}
			}()
			for l.queued() != i+1 {
				time.Sleep(time.Millisecond)
			}
		}
		for want := range 3 {
			l.release(0)
			if got := <-order; got != want {
				t.Fatalf("call %d admitted, want %d (first come, first served)", got, want)
			}
		}
		l.release(0)
	})

	t.Run("urgent calls get permits before calls that came earlier", func(t *testing.T) {
		t.Parallel()
		l, _ := newTestLimit(1, 1, 1)
		if !l.tryAcquire() {
			t.Fatal("the only permit refused")
		}
		order := make(chan string, 4)
		for i, name := range []string{"new 1", "urgent 1", "new 2", "urgent 2"} {
			go func() {
				if err := l.acquire(t.Context(), time.Hour, strings.HasPrefix(name, "urgent")); err == nil {
					order <- name
				}
			}()
			for l.queued() != i+1 {
				time.Sleep(time.Millisecond)
			}
		}
		for _, want := range []string{"urgent 1", "urgent 2", "new 1", "new 2"} {
			l.release(0)
			if got := <-order; got != want {
				t.Fatalf("%q admitted, want %q (work under way first, each line first come, first served)", got, want)
			}
		}
		l.release(0)
	})

	t.Run("a call that is not admitted within its wait gives up, and leaves the line", func(t *testing.T) {
		t.Parallel()
		l, _ := newTestLimit(1, 1, 1)
		if !l.tryAcquire() {
			t.Fatal("the only permit refused")
		}
		if err := l.acquire(t.Context(), 10*time.Millisecond, false); !errors.Is(err, errWaitExceeded) {
			t.Errorf("got %v, want errWaitExceeded", err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := l.acquire(ctx, time.Hour, false); !errors.Is(err, context.Canceled) {
			t.Errorf("with ctx cancelled: got %v, want context.Canceled", err)
		}
		if n := l.queued(); n != 0 {
			t.Errorf("%d calls still queued after giving up, want 0", n)
		}
		l.release(0)
		if !l.tryAcquire() {
			t.Error("the permit was lost to a call that gave up")
		}
	})

	t.Run("a free permit is not taken past calls that wait", func(t *testing.T) {
		t.Parallel()
		l, _ := newTestLimit(1, 1, 1)
		if !l.tryAcquire() {
			t.Fatal("the only permit refused")
		}
		admitted := make(chan struct{})
		go func() {
			if l.acquire(t.Context(), time.Hour, false) == nil {
				close(admitted)
			}
		}()
		for l.queued() != 1 {
			time.Sleep(time.Millisecond)
		}
		l.release(0) // goes straight to the waiting call
		<-admitted
		if l.tryAcquire() {
			t.Error("tryAcquire took a permit while the limit was full")
		}
		l.release(0)
	})
}

// TestThrottle_PassesAboutWhatPeersTake offers ten times what the peer
// takes: the throttle should let through about 1.5 times the peer's share,
// not the square root of offered × taken that counting only its own passes
// gives (33 a round here).
func TestThrottle_PassesAboutWhatPeersTake(t *testing.T) {
	t.Parallel()
	th := newThrottle(time.Minute)
	refused := apperr.New(apperr.Unavailable, "at capacity").WithReason(Reason)
	passed := 0
	for round := range 60 {
		took := 0
		for range 100 {
			if !th.Allow() {
				continue
			}
			if round >= 40 {
				passed++
			}
			if took < 10 {
				took++
				th.Observe(nil)
			} else {
				th.Observe(refused)
			}
		}
	}
	if perRound := float64(passed) / 20; perRound < 10 || perRound > 20 {
		t.Errorf("passed %.1f a round to a peer taking 10 of 100 offered, want about 15", perRound)
	}
}

// TestThrottle_RecoversWhenPeersTakeEverything: after peers refused most
// work, the throttle opens again within a few periods once they take all of
// it.
func TestThrottle_RecoversWhenPeersTakeEverything(t *testing.T) {
	t.Parallel()
	const period = 100 * time.Millisecond
	th := newThrottle(period)
	refused := apperr.New(apperr.Unavailable, "at capacity").WithReason(Reason)
	for range 1000 {
		if th.Allow() {
			th.Observe(refused)
		}
	}
	if th.Allow() && th.Allow() && th.Allow() { //nolint:staticcheck // SA4000: each call is a draw of its own
		t.Fatal("let work through right after peers refused everything")
	}
	start := time.Now()
	for time.Since(start) < 30*period {
		denied := 0
		for range 100 {
			if th.Allow() {
				th.Observe(nil)
			} else {
				denied++
			}
			time.Sleep(period / 100)
		}
		if denied <= 5 {
			return
		}
	}
	t.Fatalf("still refusing more than 5 %% of new work %v after peers took everything", 30*period)
}

func TestThrottle_ForgetsAQuietOverload(t *testing.T) {
	t.Parallel()
	th := newThrottle(50 * time.Millisecond)
	refused := apperr.New(apperr.Unavailable, "at capacity").WithReason(Reason)
	for range 400 {
		th.Observe(refused)
	}
	denied := 0
	for range 100 {
		if !th.Allow() {
			denied++
		}
	}
	if denied == 0 {
		t.Fatal("nothing refused right after 400 peer refusals")
	}
	// No peer answers for a period: calls in flight wait on a slow
	// provider, say. The overload before is over.
	time.Sleep(100 * time.Millisecond)
	for range 100 {
		if !th.Allow() {
			t.Fatal("refused new work a period after the last peer refusal")
		}
	}
}
