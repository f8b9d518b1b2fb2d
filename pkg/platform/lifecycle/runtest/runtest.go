// Package runtest runs a service's run function inside a test the way its
// main does, and gives the test the admin address to probe, so every
// service's TestRun reads the same.
package runtest

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"
)

// Process is a run function running in the background.
type Process struct {
	// AdminAddr is where /healthz, /readyz and /metrics answer.
	AdminAddr string

	cancel context.CancelFunc
	done   chan error
}

// Start calls run in a goroutine with a log pipe as stdout and returns once
// run logged "started" (lifecycle.Run does, once it serves). The test fails
// if run ends first. Stop, or the end of the test, stops it.
func Start(t testing.TB, run func(ctx context.Context, stdout io.Writer) error) *Process {
	t.Helper()
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	p := &Process{cancel: cancel, done: make(chan error, 1)}
	out, logs := io.Pipe()
	go func() {
		p.done <- run(ctx, logs)
		_ = logs.Close()
	}()
	lines := bufio.NewScanner(out)
	for p.AdminAddr == "" && lines.Scan() {
		var entry struct {
			Msg       string `json:"msg"`
			AdminAddr string `json:"admin_addr"`
		}
		if json.Unmarshal(lines.Bytes(), &entry) == nil && entry.Msg == "started" {
			p.AdminAddr = entry.AdminAddr
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }() // keep the logger unblocked
	if p.AdminAddr == "" {
		cancel()
		t.Fatalf("run ended before logging \"started\": %v", <-p.done)
	}
	t.Cleanup(func() { p.cancel() })
	return p
}

// Stop cancels run's context, as a signal would, and fails the test unless
// run returns nil within 30s.
func (p *Process) Stop(t testing.TB) {
	t.Helper()
	p.cancel()
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return within 30s of cancel")
	}
}
