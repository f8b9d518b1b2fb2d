// Package stack starts the whole of shopmesh from its real images on a
// private Docker network, for end-to-end tests: etcd with TLS, the
// OpenTelemetry Collector, the payment-provider simulator, and the four
// services. Each test gets its own network, PKI and containers and removes
// them when it ends (Ryuk, testcontainers' reaper, cannot be pulled here, so
// cleanup is explicit).
package stack

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/shopmesh/shopmesh/pkg/containertest"
	"github.com/shopmesh/shopmesh/pkg/platform/postgres/pgtest"
	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf/devpki"
)

// Image tags built by deploy/images.sh.
const (
	EtcdImage    = "shopmesh/etcd:v3.7.3"
	OtelcolImage = "shopmesh/otelcol:v0.165.0"
	// PSPAPIKey is the simulator's API key in tests.
	PSPAPIKey = "sk_test_e2e"
	// JWTSigningKey is the gateway's HS256 key in tests; Bearer signs with it.
	JWTSigningKey = "e2e-only-jwt-signing-key-0123456789"
)

// Stack is a running shopmesh.
type Stack struct {
	// GatewayURL is the gateway's base URL as seen from the test process.
	GatewayURL string
	// PaysimURL is the payment-provider simulator's base URL (HTTPS, signed
	// by the stack's CA), for its counters and fault injection.
	PaysimURL string
	// PostgresAddr is host:port of the database server, for test set-up
	// and checks that read a service's tables directly.
	PostgresAddr string
	// CertsDir holds the stack's PKI (ca.pem and one pair per identity).
	CertsDir string
	// Containers by name: postgres, etcd, otelcol, paysim, inventory, payment, order, gateway.
	Containers map[string]*testcontainers.DockerContainer
	Network    *testcontainers.DockerNetwork

	opts Options
}

// Options change how Start configures the services.
type Options struct {
	// Env adds or overrides environment variables per service name.
	Env map[string]map[string]string
}

var buildOnce sync.Once
var buildErr error

// BuildImages runs deploy/images.sh once per test binary: it builds the
// service binaries and images, and etcd's and the collector's when missing.
// The Postgres image comes from pgtest.Image.
func BuildImages(t testing.TB) {
	t.Helper()
	buildOnce.Do(func() {
		cmd := exec.Command("bash", filepath.Join(repoRoot(), "deploy", "images.sh"))
		cmd.Dir = repoRoot()
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			buildErr = fmt.Errorf("deploy/images.sh: %v\n%s", err, out.String())
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// Start builds the images (cached), creates a network and a fresh PKI, and
// starts every component, waiting for each to be ready. Everything is
// removed when the test ends.
func Start(t testing.TB) *Stack { return StartWith(t, Options{}) }

// StartWith is Start with options.
func StartWith(t testing.TB, opts Options) *Stack {
	t.Helper()
	containertest.RequireDocker(t)
	BuildImages(t)
	ctx := t.Context()

	certs := t.TempDir()
	if _, err := devpki.Generate(certs, devpki.Leaves(), devpki.Options{WorldReadableKeys: true}); err != nil {
		t.Fatalf("dev PKI: %v", err)
	}
	nw, err := network.New(ctx)
	if err != nil {
		t.Fatalf("create network: %v", err)
	}
	testcontainers.CleanupNetwork(t, nw)
	s := &Stack{Containers: map[string]*testcontainers.DockerContainer{}, Network: nw, CertsDir: certs, opts: opts}

	s.run(t, "etcd", EtcdImage, certs,
		testcontainers.WithCmd(
			"--name=etcd", "--data-dir=/data",
			"--listen-client-urls=https://0.0.0.0:2379", "--advertise-client-urls=https://etcd:2379",
			"--client-cert-auth", "--trusted-ca-file=/certs/ca.pem",
			"--cert-file=/certs/etcd.pem", "--key-file=/certs/etcd-key.pem"),
		testcontainers.WithWaitStrategy(wait.ForLog("ready to serve client requests").WithStartupTimeout(60*time.Second)))
	pg := s.run(t, "postgres", pgtest.Image(t), certs, testcontainers.WithExposedPorts("5432/tcp"),
		testcontainers.WithEnv(map[string]string{"POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "postgres-e2e"}),
		testcontainers.WithFiles(testcontainers.ContainerFile{
			HostFilePath:      filepath.Join(repoRoot(), "deploy", "postgres", "init", "01-databases.sql"),
			ContainerFilePath: "/docker-entrypoint-initdb.d/01-databases.sql", FileMode: 0o644,
		}),
		// Twice: once for the server that runs the init scripts, once for the real one.
		testcontainers.WithWaitStrategy(wait.ForLog("database system is ready to accept connections").
			WithOccurrence(2).WithStartupTimeout(90*time.Second)))
	s.run(t, "otelcol", OtelcolImage, certs,
		testcontainers.WithWaitStrategy(wait.ForLog("Everything is ready").WithStartupTimeout(60*time.Second)))
	sim := s.run(t, "paysim", "shopmesh/paysim:dev", certs, testcontainers.WithExposedPorts("8443/tcp"),
		testcontainers.WithEnv(map[string]string{
			"TLS_CERT_FILE": "/certs/paysim.pem", "TLS_KEY_FILE": "/certs/paysim-key.pem", "PAYSIM_API_KEY": PSPAPIKey,
		}),
		testcontainers.WithWaitStrategy(wait.ForLog("paysim listening").WithStartupTimeout(30*time.Second)))

	svcEnv := map[string]string{
		"ETCD_ENDPOINTS":                 "https://etcd:2379",
		"TLS_DIR":                        "/certs",
		"LOG_LEVEL":                      "debug",
		"OTEL_EXPORTER_OTLP_ENDPOINT":    "https://otelcol:4317",
		"OTEL_EXPORTER_OTLP_CERTIFICATE": "/certs/ca.pem",
	}
	ready := testcontainers.WithWaitStrategy(wait.ForExec([]string{"/app", "healthcheck"}).
		WithPollInterval(200 * time.Millisecond).WithStartupTimeout(60 * time.Second))
	s.run(t, "inventory", "shopmesh/inventory:dev", certs, testcontainers.WithEnv(svcEnv), database("inventory"), ready)
	s.run(t, "payment", "shopmesh/payment:dev", certs, testcontainers.WithEnv(svcEnv), database("payment"), testcontainers.WithEnv(map[string]string{
		"PSP_URL": "https://paysim:8443", "PSP_CA_FILE": "/certs/ca.pem", "PSP_API_KEY": PSPAPIKey,
	}), ready)
	s.run(t, "order", "shopmesh/order:dev", certs, testcontainers.WithEnv(svcEnv), database("order"), ready)
	gw := s.run(t, "gateway", "shopmesh/gateway:dev", certs, testcontainers.WithEnv(svcEnv),
		testcontainers.WithEnv(map[string]string{
			"JWT_SIGNING_KEY": JWTSigningKey,
			// The saga tests fire dozens of requests at once from one
			// address and one customer; the per-client limit is the
			// gateway's unit tests' business, not theirs.
			"RATE_LIMIT_RPS": "1000", "RATE_LIMIT_BURST": "2000",
		}),
		testcontainers.WithExposedPorts("8080/tcp"), ready)

	s.GatewayURL = "http://" + containertest.Reachable(t, gw, "8080/tcp")
	s.PaysimURL = "https://" + containertest.Reachable(t, sim, "8443/tcp")
	s.PostgresAddr = containertest.Reachable(t, pg, "5432/tcp")
	return s
}

// database points a service at its own database, created with its own
// role by deploy/postgres/init/01-databases.sql.
func database(service string) testcontainers.CustomizeRequestOption {
	return testcontainers.WithEnv(map[string]string{
		"DATABASE_URL": fmt.Sprintf("postgres://%s:%s-dev@postgres:5432/%s?sslmode=disable", service, service, service),
	})
}

// run starts one container on the stack's network under alias name, with
// the PKI copied to /certs, and removes it when the test ends. On failure
// of the test, the container's logs are printed.
func (s *Stack) run(t testing.TB, name, image, certs string, opts ...testcontainers.ContainerCustomizer) *testcontainers.DockerContainer {
	t.Helper()
	files, err := certFiles(certs)
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]testcontainers.ContainerCustomizer{
		network.WithNetwork([]string{name}, s.Network),
		testcontainers.WithFiles(files...),
	}, opts...)
	if env := s.opts.Env[name]; len(env) > 0 {
		opts = append(opts, testcontainers.WithEnv(env))
	}
	c, err := testcontainers.Run(t.Context(), image, opts...)
	// Clean up even a container that failed to become ready.
	testcontainers.CleanupContainer(t, c)
	if c != nil {
		t.Cleanup(func() {
			if t.Failed() {
				s.dumpLogs(t, name, c)
			}
		})
	}
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	s.Containers[name] = c
	return c
}

func (s *Stack) dumpLogs(t testing.TB, name string, c *testcontainers.DockerContainer) {
	// Runs in a cleanup, after the test's context was canceled.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 5*time.Second)
	defer cancel()
	rc, err := c.Logs(ctx)
	if err != nil {
		t.Logf("logs of %s: %v", name, err)
		return
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 64<<10))
	t.Logf("--- logs of %s ---\n%s", name, b)
}

// certFiles lists the PKI's files for copying into a container, all 0644
// (directories are created by the copy; containers run as a non-root uid).
func certFiles(dir string) ([]testcontainers.ContainerFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []testcontainers.ContainerFile
	for _, e := range entries {
		if e.Name() == "ca-key.pem" {
			continue // no container needs to sign anything
		}
		files = append(files, testcontainers.ContainerFile{
			HostFilePath: filepath.Join(dir, e.Name()), ContainerFilePath: "/certs/" + e.Name(), FileMode: 0o644,
		})
	}
	return files, nil
}

// Span is one exported span, as read from the collector's file export.
type Span struct {
	Service string
	Name    string
	TraceID string
}

// Spans reads every span the collector has written so far.
func (s *Stack) Spans(ctx context.Context) ([]Span, error) {
	rc, err := s.Containers["otelcol"].CopyFileFromContainer(ctx, "/data/traces.jsonl")
	if err != nil {
		return nil, fmt.Errorf("read collector export: %w", err)
	}
	defer rc.Close()
	var spans []Span
	r := bufio.NewReaderSize(rc, 1<<20)
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			// A last line without its newline is one the collector is
			// still writing: read again later.
			return spans, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read collector export: %w", err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var batch struct {
			ResourceSpans []struct {
				Resource struct {
					Attributes []struct {
						Key   string `json:"key"`
						Value struct {
							StringValue string `json:"stringValue"`
						} `json:"value"`
					} `json:"attributes"`
				} `json:"resource"`
				ScopeSpans []struct {
					Spans []struct {
						TraceID string `json:"traceId"`
						Name    string `json:"name"`
					} `json:"spans"`
				} `json:"scopeSpans"`
			} `json:"resourceSpans"`
		}
		if err := json.Unmarshal(line, &batch); err != nil {
			return nil, fmt.Errorf("decode collector export: %w", err)
		}
		for _, rs := range batch.ResourceSpans {
			service := ""
			for _, a := range rs.Resource.Attributes {
				if a.Key == "service.name" {
					service = a.Value.StringValue
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					spans = append(spans, Span{Service: service, Name: sp.Name, TraceID: strings.ToLower(sp.TraceID)})
				}
			}
		}
	}
}
