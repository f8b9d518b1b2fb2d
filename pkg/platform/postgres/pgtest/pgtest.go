// Package pgtest gives store tests a real, empty Postgres database each.
// One server container is started per test binary (the image Image picks)
// and every call to New creates a fresh database on it.
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
	"go.uber.org/goleak"

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

var (
	imageOnce sync.Once
	image     string
	imageErr  error
)

// Image returns the Postgres image the tests use, making sure it is present:
// deploy/postgres/image.sh decides (POSTGRES_IMAGE, else the official image
// when it can be pulled, else one built from Debian's packages), the same
// way `make up` does.
func Image(t testing.TB) string {
	t.Helper()
	imageOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
		cmd := exec.Command("bash", filepath.Join(root, "deploy", "postgres", "image.sh"))
		cmd.Dir = root
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			imageErr = fmt.Errorf("deploy/postgres/image.sh: %w\n%s", err, stderr.String())
			return
		}
		image = strings.TrimSpace(string(out))
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return image
}

// Main runs the package's tests, removes the server container if one was
// started, and then fails the run if goroutines leaked (goleak; the Docker
// client's idle HTTP connections are not counted). Call it from TestMain:
// os.Exit(pgtest.Main(m)).
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
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
			goleak.IgnoreTopFunction("internal/poll.runtime_pollWait")); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: goroutine leak:", err)
			code = 1
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
	img := Image(t)
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
