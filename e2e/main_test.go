package e2e_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/shopmesh/shopmesh/e2e/stack"
)

// TestMain removes what an earlier, interrupted run left behind, and makes
// an interrupt of this one remove its own containers and networks: tests
// remove theirs when they end, but an interrupted `go test` runs no
// cleanups, and Ryuk (testcontainers' reaper) cannot be pulled here.
func TestMain(m *testing.M) {
	ctx := context.Background()
	if removed, err := stack.RemoveLeftovers(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: removing leftovers of earlier runs:", err)
	} else if len(removed) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: removed %d leftovers of interrupted runs\n", len(removed))
	}
	stop := stack.OnInterrupt(ctx)
	code := m.Run()
	stop()
	os.Exit(code)
}
