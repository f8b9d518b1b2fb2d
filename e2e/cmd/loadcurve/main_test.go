package main

import (
	"slices"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/e2e/load"
)

// TestMedianStep: each number is the median of the rounds' on its own,
// the answers are the median-goodput round's, and every goodput is kept in
// the order offered.
func TestMedianStep(t *testing.T) {
	t.Parallel()
	round := func(goodput float64, p99 time.Duration, refused int) load.Summary {
		return load.Summary{Offered: 100, Goodput: goodput, P50: p99 / 10, P90: p99 / 2, P99: p99,
			ByStatus: map[int]int{201: int(goodput), 503: refused}}
	}
	rounds := []load.Summary{
		round(90, 300*time.Millisecond, 1),
		round(60, 100*time.Millisecond, 2), // the lowest goodput with the lowest p99
		round(80, 900*time.Millisecond, 3),
	}
	st := medianStep(rounds, 2)
	if st.Factor != 2 || st.Goodput != 80 {
		t.Errorf("factor %v goodput %v, want 2 and the median goodput 80", st.Factor, st.Goodput)
	}
	if st.P99 != 300 || st.P90 != 150 || st.P50 != 30 {
		t.Errorf("p50/p90/p99 %v/%v/%v ms, want the medians of the rounds, 30/150/300", st.P50, st.P90, st.P99)
	}
	if st.Answers[503] != 3 {
		t.Errorf("answers %v, want the median-goodput round's (503 × 3)", st.Answers)
	}
	if want := []float64{90, 60, 80}; !slices.Equal(st.Rounds, want) {
		t.Errorf("rounds %v, want %v in the order offered", st.Rounds, want)
	}
	if one := medianStep(rounds[:1], 1); one.Rounds != nil || one.Goodput != 90 {
		t.Errorf("one round: %+v, want it as it is, without Rounds", one)
	}
	if two := medianStep(rounds[:2], 1); two.Goodput != 60 {
		t.Errorf("two rounds: goodput %v, want the lower middle one, 60", two.Goodput)
	}
}
