// Package pgtest gives store tests a real, empty Postgres database each.
// One server container is started per test binary (POSTGRES_IMAGE, default
// shopmesh/postgres:15, built locally by deploy/postgres/build.sh where no
// registry answers) and every call to New creates a fresh database on it.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/shopmesh/shopmesh/pkg/containertest"
)

const (
	user     = "shopmesh"
	password = "shopmesh-test"
)

var (
	mu        sync.Mutex
	server    *tcpostgres.PostgresContainer
	serverDSN string // postgres://user:pass@host:port/
	seq       atomic.Int64
)

// Image is the Postgres image the tests use.
func Image() string {
	if img := os.Getenv("POSTGRES_IMAGE"); img != "" {
		return img
	}
	return "shopmesh/postgres:15"
}

// Main runs the package's tests and then removes the server container, if
// one was started. Call it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	mu.Lock()
	defer mu.Unlock()
	if server != nil {
		if err := testcontainers.TerminateContainer(server); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: terminate postgres:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// New returns the DSN of a new, empty database for this test.
func New(t testing.TB) string {
	t.Helper()
	base := start(t)
	name := fmt.Sprintf("t%d_%d", os.Getpid(), seq.Add(1))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base+"postgres")
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	return base + name
}

func start(t testing.TB) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if server != nil {
		return serverDSN
	}
	containertest.RequireDocker(t)
	img := Image()
	if strings.HasPrefix(img, "shopmesh/") {
		buildImage(t)
	}
	// The wait is on the log only: testcontainers' port check dials the
	// host it guesses, which can be wrong (see containertest.Reachable).
	c, err := tcpostgres.Run(context.WithoutCancel(t.Context()), img,
		tcpostgres.WithUsername(user), tcpostgres.WithPassword(password), tcpostgres.WithDatabase("postgres"),
		testcontainers.WithWaitStrategy(wait.ForLog("database system is ready to accept connections").
			WithOccurrence(2).WithStartupTimeout(90*time.Second)),
		testcontainers.WithCmd("postgres", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "max_connections=300"),
	)
	if err != nil {
		if c != nil {
			_ = testcontainers.TerminateContainer(c)
		}
		t.Fatalf("pgtest: start %s: %v", img, err)
	}
	server = c
	serverDSN = fmt.Sprintf("postgres://%s:%s@%s/", user, password, containertest.Reachable(t, c, "5432/tcp"))
	return serverDSN
}

// buildImage runs deploy/postgres/build.sh, which returns at once when the
// image is already built.
func buildImage(t testing.TB) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
	cmd := exec.Command("bash", filepath.Join(root, "deploy", "postgres", "build.sh"), "--tag", Image())
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pgtest: deploy/postgres/build.sh: %v\n%s", err, out)
	}
}
