package stack

import (
	"bufio"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// What the tests do to the stack on purpose. Each method marks the test
// failed when Docker does not do it, and returns: scenarios call them from
// the goroutine that injects faults beside the load, where a test must not
// stop.

// Stop stops container name: SIGTERM, then SIGKILL after timeout (0: at
// once, a crash with no drain and no deregistration).
func (s *Stack) Stop(t testing.TB, name string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := ctxFor(t)
	defer cancel()
	if err := s.container(t, name).Stop(ctx, &timeout); err != nil {
		t.Errorf("stop %s: %v", name, err)
	}
}

// Start starts a stopped container again and waits until it is ready, as
// it did the first time (a service's healthcheck). Its published ports
// stay the same.
func (s *Stack) Start(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := ctxFor(t)
	defer cancel()
	if err := s.container(t, name).Start(ctx); err != nil {
		t.Errorf("start %s: %v", name, err)
	}
}

// Restart stops a container gracefully (SIGTERM, 15s: a service drains
// and deregisters) and starts it again.
func (s *Stack) Restart(t testing.TB, name string) {
	t.Helper()
	s.Stop(t, name, 15*time.Second)
	s.Start(t, name)
}

// Pause freezes a container's processes (SIGSTOP, as a machine that stops
// answering without closing a connection); Unpause thaws them.
func (s *Stack) Pause(t testing.TB, name string) { s.docker(t, name, true) }

// Unpause thaws a paused container.
func (s *Stack) Unpause(t testing.TB, name string) { s.docker(t, name, false) }

func (s *Stack) docker(t testing.TB, name string, pause bool) {
	t.Helper()
	ctx, cancel := ctxFor(t)
	defer cancel()
	dc, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		t.Errorf("docker client: %v", err)
		return
	}
	defer dc.Close()
	id := s.container(t, name).GetContainerID()
	if pause {
		_, err = dc.ContainerPause(ctx, id, client.ContainerPauseOptions{})
	} else {
		_, err = dc.ContainerUnpause(ctx, id, client.ContainerUnpauseOptions{})
	}
	if err != nil {
		t.Errorf("pause=%v %s: %v", pause, name, err)
	}
}

// StartedAt returns when a container's current run started; a container
// that Docker restarted (a crashed process) has a later one.
func (s *Stack) StartedAt(t testing.TB, name string) string {
	t.Helper()
	in, err := s.container(t, name).Inspect(t.Context())
	if err != nil {
		t.Errorf("inspect %s: %v", name, err)
		return ""
	}
	return in.State.StartedAt
}

// LogLinesWith counts the log lines containing substr that the replicas of
// service wrote.
func (s *Stack) LogLinesWith(t testing.TB, service, substr string) int {
	t.Helper()
	n := 0
	for _, name := range s.Replicas(service) {
		rc, err := s.container(t, name).Logs(t.Context())
		if err != nil {
			t.Fatalf("logs of %s: %v", name, err)
		}
		sc := bufio.NewScanner(rc)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			if strings.Contains(sc.Text(), substr) {
				n++
			}
		}
		_ = rc.Close()
	}
	return n
}

func (s *Stack) container(t testing.TB, name string) *testcontainers.DockerContainer {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.Containers[name]
	if !ok {
		t.Fatalf("no container %q in the stack", name)
	}
	return c
}

// ctxFor is t's context, or a short one of its own once t's is done (in a
// cleanup).
func ctxFor(t testing.TB) (context.Context, context.CancelFunc) {
	if t.Context().Err() == nil {
		return context.WithCancel(t.Context())
	}
	return context.WithTimeout(context.WithoutCancel(t.Context()), 30*time.Second)
}
