// Package containertest holds what every shopmesh test that runs containers
// needs: a Docker check that fails in CI instead of skipping, and the
// address at which the test process reaches a container's published port.
package containertest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
)

// RequireDocker fails the test when Docker is unreachable in CI (CI=true),
// and skips it elsewhere with the reason, so a missing daemon never passes
// silently in CI.
//
// It also turns Ryuk, testcontainers' reaper, off unless the environment
// says otherwise: its image would need a registry, and every shopmesh test
// removes its own containers. testcontainers reads the setting when it
// creates its first container, which is after this call.
func RequireDocker(t testing.TB) {
	t.Helper()
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		_ = os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("Docker is not reachable (%v: %s)", err, bytes.TrimSpace(out))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; tests that need containers must run in CI")
	}
	t.Skip(msg + "; skipping outside CI")
}

// Reachable returns host:port at which the test process reaches a
// container's published port. testcontainers guesses the host: when the
// tests run inside a container it picks that container's default gateway,
// which is wrong where the Docker daemon runs in the same container (as on
// shopmesh's CI machines). So the guess is tried first and loopback second,
// and the first that accepts a connection wins. TESTCONTAINERS_HOST_OVERRIDE
// still sets the guess.
func Reachable(t testing.TB, c testcontainers.Container, port string) string {
	t.Helper()
	ctx := t.Context()
	mapped, err := c.MappedPort(ctx, port)
	if err != nil {
		t.Fatalf("mapped port %s: %v", port, err)
	}
	hosts := []string{"127.0.0.1"}
	if h, err := c.Host(ctx); err == nil && h != "127.0.0.1" {
		hosts = append([]string{h}, hosts...)
	}
	for _, h := range hosts {
		addr := net.JoinHostPort(h, mapped.Port())
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = conn.Close()
			return addr
		}
	}
	t.Fatalf("port %s (mapped to %s) is reachable at none of %v", port, mapped.Port(), hosts)
	return ""
}
