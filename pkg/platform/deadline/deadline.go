package deadline

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// MinBudget is the least time a hop must get to be started at all; a server
// refuses calls that arrive with less (grpcx). Below it, the network alone
// would use up the budget.
const MinBudget = 5 * time.Millisecond

// ErrExhausted is the error of a hop refused because too little of the
// caller's budget is left for it. It wraps context.DeadlineExceeded, so
// callers and the error tables treat it as a deadline that passed.
var ErrExhausted = fmt.Errorf("too little of the deadline left to start: %w", context.DeadlineExceeded)

type keptKey struct{}

// Keep returns ctx with d more of its remaining time kept back for the
// caller's own work after its next outgoing call, such as recording the
// result or writing the answer. Keeps add up: a function that keeps time
// for itself and calls one that keeps time too needs both. A ctx without a
// deadline keeps nothing: there is no budget to share.
func Keep(ctx context.Context, d time.Duration) context.Context {
	if d <= 0 {
		return ctx
	}
	if _, ok := ctx.Deadline(); !ok {
		return ctx
	}
	return context.WithValue(ctx, keptKey{}, Kept(ctx)+d)
}

// Kept returns the time ctx keeps back for the caller's later steps.
func Kept(ctx context.Context) time.Duration {
	d, _ := ctx.Value(keptKey{}).(time.Duration)
	return d
}

// Left returns the time until ctx's deadline minus what it keeps, and
// whether ctx has a deadline at all. The result may be negative.
func Left(ctx context.Context) (time.Duration, bool) {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0, false
	}
	return time.Until(dl) - Kept(ctx), true
}

// Hop returns the context for one outgoing call whose cap is limit: its
// deadline is the sooner of now+limit and ctx's deadline less the time ctx
// keeps. The returned context keeps nothing (what was kept is accounted for
// in its deadline), so the callee's own budget starts fresh. A ctx without
// a deadline gets limit. If less than MinBudget would be left, Hop returns
// ErrExhausted and a no-op cancel: do not make the call.
func Hop(ctx context.Context, limit time.Duration) (context.Context, context.CancelFunc, error) {
	if limit <= 0 {
		return ctx, func() {}, errors.New("deadline: a hop's limit must be positive")
	}
	budget := limit
	if left, ok := Left(ctx); ok && left < budget {
		budget = left
	}
	if budget < MinBudget {
		return ctx, func() {}, ErrExhausted
	}
	if Kept(ctx) != 0 {
		ctx = context.WithValue(ctx, keptKey{}, time.Duration(0))
	} else if budget < limit {
		// The caller's deadline is the sooner: the call carries it as it
		// is, without a context and a timer of its own.
		return ctx, func() {}, nil
	}
	hop, cancel := context.WithTimeout(ctx, budget)
	return hop, cancel, nil
}

// Detach returns a context for work that must outlive its caller, such as
// giving up a claim after the request that held it was cancelled, or
// looking up the outcome of a call whose deadline passed: it keeps ctx's
// values (trace, logger fields) but not its deadline or cancellation, and
// has a budget of its own.
func Detach(ctx context.Context, budget time.Duration) (context.Context, context.CancelFunc) {
	ctx = context.WithoutCancel(ctx)
	if Kept(ctx) != 0 {
		ctx = context.WithValue(ctx, keptKey{}, time.Duration(0))
	}
	return context.WithTimeout(ctx, budget)
}
