package overload_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/deadline"
	"github.com/shopmesh/shopmesh/pkg/platform/overload"
)

func TestLimiter_Admit(t *testing.T) {
	t.Parallel()

	t.Run("beyond the limit and its queue a call is refused at once", func(t *testing.T) {
		t.Parallel()
		l := overload.New(overload.Options{Name: "test", MinLimit: 2, InitialLimit: 2, MaxWait: time.Hour})
		var held []*overload.Permit
		defer func() {
			for _, p := range held {
				p.Done()
			}
		}()
		for range 2 {
			_, p, err := l.Admit(t.Context(), "route")
			if err != nil {
				t.Fatalf("Admit under the limit: %v", err)
			}
			held = append(held, p)
		}
		// The limit is full: further calls queue, from twice the limit on
		// some are refused, from four times all are: at once, although
		// they would wait an hour for a permit.
		var wg sync.WaitGroup
		defer wg.Wait() // last: after the waiters are cancelled
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		refused := make(chan struct{}, 100)
		for range 100 {
			wg.Go(func() {
				if _, p, err := l.Admit(ctx, "route"); err == nil {
					p.Done()
				} else if errors.Is(err, overload.ErrOverloaded) {
					refused <- struct{}{}
				}
			})
			select {
			case <-refused:
				if q := l.Queued("route"); q < 4 || q > 8 {
					t.Errorf("refused with %d queued, want between twice and four times the limit of 2", q)
				}
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
		t.Errorf("100 calls over a limit of 2: none refused")
	})

	t.Run("a call waits no longer than its deadline allows", func(t *testing.T) {
		t.Parallel()
		l := overload.New(overload.Options{Name: "test", MinLimit: 2, InitialLimit: 2, MaxWait: time.Hour})
		for range 2 {
			_, p, err := l.Admit(t.Context(), "route")
			if err != nil {
				t.Fatalf("Admit: %v", err)
			}
			defer p.Done()
		}
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		_, _, err := l.Admit(ctx, "route")
		if !errors.Is(err, overload.ErrOverloaded) {
			t.Fatalf("got %v, want ErrOverloaded", err)
		}
		// It gave up before the last MinBudget of its deadline: the caller
		// still has time to answer.
		if left, _ := deadline.Left(ctx); left <= 0 {
			t.Errorf("Admit returned after the deadline passed")
		}
	})

	t.Run("keys have limits of their own", func(t *testing.T) {
		t.Parallel()
		l := overload.New(overload.Options{Name: "test", MinLimit: 2, InitialLimit: 2, MaxWait: time.Millisecond})
		for range 2 {
			_, p, err := l.Admit(t.Context(), "slow")
			if err != nil {
				t.Fatalf("Admit: %v", err)
			}
			defer p.Done()
		}
		_, p, err := l.Admit(t.Context(), "fast")
		if err != nil {
			t.Fatalf("Admit on another key: %v", err)
		}
		p.Done()
	})
}

func TestYield(t *testing.T) {
	t.Parallel()
	l := overload.New(overload.Options{Name: "test", MinLimit: 2, InitialLimit: 2, MaxWait: time.Millisecond})
	ctx, first, err := l.Admit(t.Context(), "route")
	if err != nil {
		t.Fatal(err)
	}
	_, second, err := l.Admit(t.Context(), "route")
	if err != nil {
		t.Fatal(err)
	}
	defer second.Done()
	// Full now. The first call starts waiting for a peer: its permit goes back.
	overload.Yield(ctx)
	overload.Yield(ctx) // a second peer call gives nothing more back
	_, third, err := l.Admit(t.Context(), "route")
	if err != nil {
		t.Fatalf("Admit after a Yield: %v, want the yielded permit", err)
	}
	first.Done() // already given back: must not free a third slot
	if _, _, err := l.Admit(t.Context(), "route"); !errors.Is(err, overload.ErrOverloaded) {
		t.Errorf("got %v, want ErrOverloaded: Done after Yield freed a permit twice", err)
	}
	third.Done()
	overload.Yield(t.Context()) // a context without a permit: nothing happens
}

// TestLimiter_MeasuresOwnWork checks the point of Yield: a peer that
// becomes slow does not lower the limit, the server's own work becoming
// slow does.
func TestLimiter_MeasuresOwnWork(t *testing.T) {
	if testing.Short() {
		t.Skip("runs load for several seconds")
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
					overload.Yield(ctx)
					time.Sleep(peer)
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
