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
// container's published port: loopback, where Docker publishes ports on
// this machine. Tests send traffic only there, never to the address of a
// container or of the Docker bridge (testcontainers' own guess of the host
// is one of those when the tests run in a container). A remote daemon is
// named with TESTCONTAINERS_HOST_OVERRIDE.
func Reachable(t testing.TB, c testcontainers.Container, port string) string {
	t.Helper()
	mapped, err := c.MappedPort(t.Context(), port)
	if err != nil {
		t.Fatalf("mapped port %s: %v", port, err)
	}
	host := os.Getenv("TESTCONTAINERS_HOST_OVERRIDE")
	if host == "" {
		host = "127.0.0.1"
	}
	addr := net.JoinHostPort(host, mapped.Port())
	for deadline := time.Now().Add(10 * time.Second); ; {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = conn.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %s, published as %s, does not accept connections: %v", port, addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
