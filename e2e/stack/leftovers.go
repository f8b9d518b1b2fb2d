package stack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

// runLabel marks every container and network a test process starts with
// that process's id. Tests remove their own when they end; the label lets
// an interrupted run's be found and removed (Ryuk, testcontainers' reaper,
// would do this, but its image cannot be pulled here).
const runLabel = "org.shopmesh.e2e.pid"

func labels() map[string]string { return map[string]string{runLabel: strconv.Itoa(os.Getpid())} }

// RemoveLeftovers removes the containers and networks of earlier test
// processes that are gone (killed, or interrupted before their cleanups
// ran), and reports what it removed. Processes that still run keep theirs.
func RemoveLeftovers(ctx context.Context) ([]string, error) {
	var removed []string
	for _, kind := range []string{"container", "network"} {
		out, err := list(ctx, kind, runLabel, `{{.ID}} {{.Label "`+runLabel+`"}}`)
		if err != nil {
			return removed, err
		}
		for _, line := range out {
			id, pid, ok := strings.Cut(line, " ")
			if !ok || alive(pid) {
				continue
			}
			if err := remove(ctx, kind, id); err != nil {
				return removed, err
			}
			removed = append(removed, kind+" "+id)
		}
	}
	return removed, nil
}

// list returns docker's lines for every container (stopped ones too) or
// network carrying label, in format.
func list(ctx context.Context, kind, label, format string) ([]string, error) {
	args := []string{kind, "ls", "--filter", "label=" + label, "--format", format}
	if kind == "container" {
		args = append(args, "--all")
	}
	out, err := exec.CommandContext(ctx, "docker", args...).Output()
	if err != nil {
		return nil, fmt.Errorf("list %ss: %w", kind, err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines, nil
}

// remove removes a container (with its volumes) or a network.
func remove(ctx context.Context, kind, id string) error {
	args := []string{kind, "rm", id}
	if kind == "container" {
		args = []string{kind, "rm", "--force", "--volumes", id}
	}
	if err := exec.CommandContext(ctx, "docker", args...).Run(); err != nil {
		return fmt.Errorf("remove %s %s: %w", kind, id, err)
	}
	return nil
}

// alive reports whether process pid still runs.
func alive(pid string) bool {
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 0 {
		return false
	}
	return syscall.Kill(n, 0) == nil
}

// OnInterrupt removes this process's containers and networks when it gets
// SIGINT or SIGTERM, then exits: an interrupted `go test` leaves nothing
// behind. The removal runs under ctx. The returned function stops watching.
func OnInterrupt(ctx context.Context) (stop func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM) //shopmesh:allow ctxdrop the signal names itself in the message; the removal that follows runs under ctx
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sig:
			fmt.Fprintf(os.Stderr, "e2e: %v: removing this run's containers and networks\n", s)
			pid := strconv.Itoa(os.Getpid())
			for _, kind := range []string{"container", "network"} {
				ids, _ := list(ctx, kind, runLabel+"="+pid, "{{.ID}}")
				for _, id := range ids {
					_ = remove(ctx, kind, id)
				}
			}
			os.Exit(1)
		case <-done:
		}
	}()
	return func() { signal.Stop(sig); close(done) }
}
