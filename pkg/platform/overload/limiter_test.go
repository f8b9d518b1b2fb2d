package overload_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
	"github.com/shopmesh/shopmesh/pkg/platform/overload"
)

// full returns a limiter whose key "route" has a limit of 2, both permits
// held until the test ends. Its queue never counts as standing unless
// standingAfter is given.
func full(t *testing.T, standingAfter ...time.Duration) *overload.Limiter {
	t.Helper()
	opts := overload.Options{Name: "test", MinLimit: 2, InitialLimit: 2, MaxLimit: 2, MaxWait: time.Hour, StandingAfter: time.Hour}
	if len(standingAfter) > 0 {
		opts.StandingAfter = standingAfter[0]
	}
	l := overload.New(opts)
	for range 2 {
		_, p, err := l.Admit(t.Context(), "route")
		if err != nil {
			t.Fatalf("Admit under the limit: %v", err)
		}
		t.Cleanup(p.Done)
	}
	return l
}

// queue starts n calls of "route" that wait for a permit (as continuing
// work if continuing) and returns once they all wait; they give up when the
// test ends.
func queue(t *testing.T, l *overload.Limiter, n int, continuing bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	if continuing {
		ctx = overload.Continuing(ctx)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	before := l.Queued("route")
	for range n {
		wg.Go(func() {
			if _, p, err := l.Admit(ctx, "route"); err == nil {
				p.Done()
			}
		})
	}
	waitFor(t, func() bool { return l.Queued("route") == before+n })
}

func TestLimiter_Admit(t *testing.T) {
	t.Parallel()

	t.Run("new work queues up to two limits' worth, then is refused at once", func(t *testing.T) {
		t.Parallel()
		l := full(t)
		queue(t, l, 4, false)
		_, _, err := l.Admit(t.Context(), "route") // would wait an hour if it queued
		if !errors.Is(err, overload.ErrOverloaded) {
			t.Errorf("new work with the queue at the limit: got %v, want ErrOverloaded", err)
		}
	})

	t.Run("continuing work queues where new work is refused, up to four limits' worth", func(t *testing.T) {
		t.Parallel()
		l := full(t)
		queue(t, l, 4, false)
		queue(t, l, 4, true) // admitted although new work no longer is
		_, _, err := l.Admit(overload.Continuing(t.Context()), "route")
		if !errors.Is(err, overload.ErrOverloaded) {
			t.Errorf("continuing work with 8 queued: got %v, want ErrOverloaded", err)
		}
	})

	t.Run("new work meeting a standing queue is refused within milliseconds", func(t *testing.T) {
		t.Parallel()
		l := full(t, 50*time.Millisecond)
		time.Sleep(100 * time.Millisecond) // no call has found a permit free since
		start := time.Now()
		_, _, err := l.Admit(t.Context(), "route") // MaxWait is an hour
		if !errors.Is(err, overload.ErrOverloaded) {
			t.Fatalf("new work with the queue standing: got %v, want ErrOverloaded", err)
		}
		if waited := time.Since(start); waited > 10*time.Second {
			t.Errorf("new work waited %v with the queue standing, want a few milliseconds", waited)
		}
		// Continuing work still queues: what was admitted finishes.
		queue(t, l, 1, true)
	})

	t.Run("a call waits no longer than its deadline allows", func(t *testing.T) {
		t.Parallel()
		l := full(t)
		ctx, cancel := context.WithTimeout(overload.Continuing(t.Context()), 200*time.Millisecond)
		defer cancel()
		_, _, err := l.Admit(ctx, "route")
		// Continuing work would wait without end; its deadline bounds the
		// wait, which ends MinBudget before the deadline so the caller can
		// still answer. Had it waited for the deadline itself, the error
		// would be the context's. (Not checked by the clock: a busy
		// machine may wake the waiter late.)
		if !errors.Is(err, overload.ErrOverloaded) {
			t.Fatalf("got %v, want ErrOverloaded", err)
		}
	})

	t.Run("keys have limits of their own", func(t *testing.T) {
		t.Parallel()
		l := full(t)
		_, p, err := l.Admit(t.Context(), "other")
		if err != nil {
			t.Fatalf("Admit on another key: %v", err)
		}
		p.Done()
	})
}

func TestYield(t *testing.T) {
	t.Parallel()

	t.Run("a call waiting for a peer holds no permit, and takes one back after", func(t *testing.T) {
		t.Parallel()
		l := overload.New(overload.Options{Name: "test", MinLimit: 2, InitialLimit: 2, MaxLimit: 2, MaxWait: time.Millisecond})
		ctx, first, err := l.Admit(t.Context(), "route")
		if err != nil {
			t.Fatal(err)
		}
		_, second, err := l.Admit(t.Context(), "route")
		if err != nil {
			t.Fatal(err)
		}
		resume := overload.Yield(ctx, "") // the first call waits for a peer
		_, third, err := l.Admit(t.Context(), "route")
		if err != nil {
			t.Fatalf("Admit while a call waits for a peer: %v, want its permit", err)
		}
		// The peer answers; the first call needs a permit for what follows
		// and waits (as continuing work) until one is free.
		resumed := make(chan struct{})
		go func() { resume(); close(resumed) }()
		select {
		case <-resumed:
			t.Fatal("resume took a permit while all were held")
		case <-time.After(20 * time.Millisecond):
		}
		third.Done()
		<-resumed
		if _, _, err := l.Admit(t.Context(), "route"); !errors.Is(err, overload.ErrOverloaded) {
			t.Errorf("got %v, want ErrOverloaded: the resumed call holds a permit again", err)
		}
		first.Done()
		second.Done()
		if _, p, err := l.Admit(t.Context(), "route"); err != nil {
			t.Errorf("after every call ended: %v", err)
		} else {
			p.Done()
		}
	})

	t.Run("nested peer calls give back one permit and take back one", func(t *testing.T) {
		t.Parallel()
		l := overload.New(overload.Options{Name: "test", MinLimit: 2, InitialLimit: 2, MaxLimit: 2, MaxWait: time.Millisecond})
		ctx, p, err := l.Admit(t.Context(), "route")
		if err != nil {
			t.Fatal(err)
		}
		outer := overload.Yield(ctx, "")
		inner := overload.Yield(ctx, "")
		inner()
		outer()
		p.Done()
		p.Done() // a second Done gives nothing more back
		for range 2 {
			_, q, err := l.Admit(t.Context(), "route")
			if err != nil {
				t.Fatalf("Admit: %v: permits leaked or were given back twice", err)
			}
			defer q.Done()
		}
		if _, _, err := l.Admit(t.Context(), "route"); !errors.Is(err, overload.ErrOverloaded) {
			t.Errorf("a third call: got %v, want ErrOverloaded (a permit was given back twice)", err)
		}
	})

	t.Run("a context without a permit", func(t *testing.T) {
		t.Parallel()
		overload.Yield(t.Context(), "")() // nothing happens
	})
}

func TestHandoff(t *testing.T) {
	t.Parallel()
	l := overload.New(overload.Options{Name: "test", MinLimit: 2, InitialLimit: 2, MaxLimit: 2, MaxWait: time.Millisecond})
	ctx, call, err := l.Admit(t.Context(), "route")
	if err != nil {
		t.Fatal(err)
	}
	moved, done := overload.Handoff(ctx)
	if !overload.IsContinuing(moved) {
		t.Error("handed-off work is not marked continuing")
	}
	call.Done() // the call answered; its permit went with the work
	_, other, err := l.Admit(t.Context(), "route")
	if err != nil {
		t.Fatalf("Admit: %v", err)
	}
	defer other.Done()
	if _, _, err := l.Admit(t.Context(), "route"); !errors.Is(err, overload.ErrOverloaded) {
		t.Errorf("got %v, want ErrOverloaded while the handed-off work holds the permit", err)
	}
	done()
	if _, p, err := l.Admit(t.Context(), "route"); err != nil {
		t.Errorf("after the handed-off work ended: %v", err)
	} else {
		p.Done()
	}
	if ctx, done := overload.Handoff(t.Context()); !overload.IsContinuing(ctx) {
		t.Error("Handoff of a context without a call does not mark it")
	} else {
		done()
	}
}

func TestYield_Holds(t *testing.T) {
	t.Parallel()
	// A server that counts calls of "/inside" as its own work.
	l := overload.New(overload.Options{Name: "test", MinLimit: 2, InitialLimit: 2, MaxLimit: 2, MaxWait: time.Millisecond,
		Holds: func(method string) bool { return method == "/inside" }})
	ctx, call, err := l.Admit(t.Context(), "route")
	if err != nil {
		t.Fatal(err)
	}
	defer call.Done()
	_, other, err := l.Admit(t.Context(), "route")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Done()
	resume := overload.Yield(ctx, "/inside") // held: still full
	if _, _, err := l.Admit(t.Context(), "route"); !errors.Is(err, overload.ErrOverloaded) {
		t.Errorf("while waiting on a peer counted as own work: got %v, want the permit held", err)
	}
	resume()
	resume = overload.Yield(ctx, "/outside") // given back
	_, third, err := l.Admit(t.Context(), "route")
	if err != nil {
		t.Errorf("while waiting outside: %v, want the permit given back", err)
	} else {
		third.Done()
	}
	resume()
}

func TestThrottle(t *testing.T) {
	t.Parallel()
	refused := apperr.New(apperr.Unavailable, "at capacity").WithReason(overload.Reason)
	burst := overload.NewThrottle()
	for range 30 {
		burst.Observe(refused) // one burst refused: fewer calls than the threshold
	}
	for range 10 {
		if !burst.Allow() {
			t.Fatal("refused new work after one burst, below the throttle's threshold of calls")
		}
	}
	th := overload.NewThrottle()
	for range 100 {
		th.Observe(nil)
	}
	for range 10 {
		if !th.Allow() {
			t.Fatal("refused new work while every peer call succeeded")
		}
	}
	for range 400 {
		th.Observe(refused)
	}
	denied := 0
	for range 1000 {
		if !th.Allow() {
			denied++
		}
	}
	// 80 % of peer calls refused: most new work is refused, never all.
	if denied < 500 || denied == 1000 {
		t.Errorf("refused %d of 1000 with four peer calls in five refused, want most but not all", denied)
	}
	var none *overload.Throttle
	none.Observe(refused)
	if !none.Allow() {
		t.Error("a nil Throttle refused")
	}
}

// TestLimiter_MeasuresOwnWork checks the point of Yield: a peer that
// becomes slow does not lower the limit, the server's own work becoming
// slow does.
func TestLimiter_MeasuresOwnWork(t *testing.T) {
	if testing.Short() {
		t.Skip("runs load for ten seconds")
	}
	t.Parallel()
	// load runs 20 workers, each call doing its own work, then (after
	// Yield) waiting for a "peer": for 2s as before, then for 8s with
	// ownAfter and peerAfter. It returns the limit at the end.
	load := func(t *testing.T, ownAfter, peerAfter time.Duration) int {
		l := overload.New(overload.Options{Name: "test", InitialLimit: 20, MaxWait: time.Second})
		start := time.Now()
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				for since := time.Since(start); since < 10*time.Second; since = time.Since(start) {
					own, peer := time.Millisecond, time.Millisecond
					if since > 2*time.Second {
						own, peer = ownAfter, peerAfter
					}
					ctx, p, err := l.Admit(t.Context(), "route")
					if err != nil {
						time.Sleep(time.Millisecond)
						continue
					}
					time.Sleep(own)
					resume := overload.Yield(ctx, "")
					time.Sleep(peer)
					resume()
					p.Done()
				}
			})
		}
		wg.Wait()
		return l.Limit("route")
	}
	var slowPeer, slowSelf int
	var wg sync.WaitGroup
	wg.Go(func() { slowPeer = load(t, time.Millisecond, 100*time.Millisecond) })
	wg.Go(func() { slowSelf = load(t, 30*time.Millisecond, time.Millisecond) })
	wg.Wait()
	t.Logf("limit at the end (from 20): %d once the peer slowed down, %d once the own work did", slowPeer, slowSelf)
	if slowPeer < 20 {
		t.Errorf("a slow peer lowered the limit to %d (from 20): waiting for peers must not count", slowPeer)
	}
	if slowSelf >= 20 {
		t.Errorf("own work 30× slower left the limit at %d (from 20): it must come down", slowSelf)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	end := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(end) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
