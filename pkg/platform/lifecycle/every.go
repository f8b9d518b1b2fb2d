package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Pass is one run of a background job: it does what is due now (release
// expired reservations, take over stalled orders) and reports how many
// things it handled. It must return when ctx ends.
type Pass func(ctx context.Context) (int, error)

// Periodic runs a Pass at once and then every interval, in a goroutine it
// owns (STYLE.md: every goroutine has an owner that stops it and waits for
// it). A failed pass is logged and tried again at the next tick: a
// database that is down for a while only delays the work. Services run
// their background jobs with it, so every loop starts, logs and stops the
// same way; the domains expose single passes.
type Periodic struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Every starts running pass every interval until Close is called or ctx
// ends. name names the job (e.g. "reservation sweep") in the log lines of
// its outcomes.
func Every(ctx context.Context, name string, interval time.Duration, logger *slog.Logger, pass Pass) (*Periodic, error) {
	switch {
	case name == "" || pass == nil || logger == nil:
		return nil, errors.New("lifecycle: a periodic job needs a name, a pass and a logger")
	case interval <= 0:
		return nil, fmt.Errorf("lifecycle: %s: interval %v must be positive", name, interval)
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &Periodic{cancel: cancel, done: make(chan struct{})}
	go p.loop(ctx, name, interval, logger, pass)
	return p, nil
}

func (p *Periodic) loop(ctx context.Context, name string, interval time.Duration, logger *slog.Logger, pass Pass) {
	defer close(p.done)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		n, err := pass(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			logger.WarnContext(ctx, name+" failed; trying again at the next tick", "err", err, "handled", n, "interval", interval)
		case n > 0:
			logger.InfoContext(ctx, name+" done", "handled", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// Close stops the job, cancelling a pass in flight, and waits for it until
// ctx ends. It may be called more than once; its signature fits Closer.
func (p *Periodic) Close(ctx context.Context) error {
	p.cancel()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("lifecycle: periodic job did not stop: %w", ctx.Err())
	}
}
