// Package stack starts the whole of shopmesh from its real images on a
// private Docker network, for end-to-end tests: etcd with TLS, the
// OpenTelemetry Collector, the payment-provider simulator, and the four
// services. Each test gets its own network, PKI and containers and removes
// them when it ends (Ryuk, testcontainers' reaper, cannot be pulled here, so
// cleanup is explicit).
package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	dockernet "github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/shopmesh/shopmesh/e2e/traceview"
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
	// GatewayURLs are the gateways' base URLs as seen from the test
	// process (published ports on loopback); GatewayURL is the first.
	GatewayURLs []string
	GatewayURL  string
	// PaysimURL is the payment-provider simulator's base URL (HTTPS, signed
	// by the stack's CA), for its counters and fault injection.
	PaysimURL string
	// PostgresAddr is host:port of the database server, for test set-up
	// and checks that read a service's tables directly.
	PostgresAddr string
	// EtcdEndpoints are the etcd members' client URLs as seen from the test
	// process (https; the certificate names them "etcd").
	EtcdEndpoints []string
	// CertsDir holds the stack's PKI (ca.pem and one pair per identity)
	// and, in <identity>/, what each container mounts at /certs.
	CertsDir string
	// Containers by name: postgres, otelcol, paysim, etcd (etcd-0, etcd-1,
	// etcd-2 for a cluster), and <service>-<n> for every replica, from 1:
	// inventory-1, order-2, gateway-1...
	Containers map[string]*testcontainers.DockerContainer
	Network    *testcontainers.DockerNetwork

	opts Options
	mu   sync.Mutex
}

// Options change what Start runs.
type Options struct {
	// Env adds or overrides environment variables per service name (for
	// every replica of it).
	Env map[string]map[string]string
	// Replicas of inventory, order and payment, and Gateways (default 2
	// each: every instance has a twin to take over).
	Replicas, Gateways int
	// EtcdMembers is 1 (default) or 3, a cluster that survives a member.
	EtcdMembers int
}

func (o Options) withDefaults() Options {
	if o.Replicas <= 0 {
		o.Replicas = 2
	}
	if o.Gateways <= 0 {
		o.Gateways = 2
	}
	if o.EtcdMembers != 3 {
		o.EtcdMembers = 1
	}
	return o
}

var buildOnce sync.Once
var buildErr error

// identities are the certificates the stack's containers load: one per
// service, the infrastructure reached by DNS name, and admin for the tests'
// own calls (make certs writes the same set for compose).
var identities = []devpki.Leaf{
	{Name: "gateway"},
	{Name: "order"},
	{Name: "inventory"},
	{Name: "payment"},
	{Name: "shipping"},
	{Name: "paysim"},
	// Clients reach the cluster as "etcd" and members reach each other by
	// their own names.
	{Name: "etcd", ExtraDNS: []string{"etcd-0", "etcd-1", "etcd-2"}},
	{Name: "otelcol"},
	{Name: "etcdaccess"},
	{Name: "admin", Tool: true},
}

// containerUID is the uid every image runs as (deploy/docker).
const containerUID = 65532

// pkiOptions is how the stack writes its PKI: a directory per container
// identity (what the container mounts, nothing else), its key 0600 and
// owned by the containers' uid when the tests run as root (as in CI), and
// world-readable otherwise, the only way a non-root runner can let that
// uid read it.
func pkiOptions() devpki.Options {
	if os.Geteuid() == 0 {
		return devpki.Options{OwnDirs: true, KeyOwner: containerUID}
	}
	return devpki.Options{OwnDirs: true, WorldReadableKeys: true}
}

// BuildImages runs deploy/images.sh once per test binary: it builds the
// service binaries and images, and etcd's and the collector's when missing.
// The Postgres image comes from pgtest.Image.
func BuildImages(t testing.TB) {
	t.Helper()
	buildOnce.Do(func() {
		cmd := exec.CommandContext(t.Context(), "bash", filepath.Join(repoRoot(), "deploy", "images.sh"))
		cmd.Dir = repoRoot()
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			buildErr = fmt.Errorf("deploy/images.sh: %w\n%s", err, out.String())
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

// Services are shopmesh's gRPC services, in the order they start.
var Services = []string{"inventory", "payment", "shipping", "order"}

// StartWith is Start with options. Components start tier by tier
// (databases and etcd, then the services, then the gateways), the replicas
// of a tier at once.
func StartWith(t testing.TB, opts Options) *Stack {
	t.Helper()
	containertest.RequireDocker(t)
	BuildImages(t)
	opts = opts.withDefaults()
	ctx := t.Context()

	// Not t.TempDir(): its parents are 0700, and the containers' uid must
	// reach the directories bind-mounted from here.
	certs, err := os.MkdirTemp("", "shopmesh-e2e-pki-")
	if err == nil {
		t.Cleanup(func() { _ = os.RemoveAll(certs) })
		err = os.Chmod(certs, 0o755) // each container's uid reads its own directory below
	}
	if err != nil {
		t.Fatalf("PKI directory: %v", err)
	}
	if _, err := devpki.Generate(certs, identities, pkiOptions()); err != nil {
		t.Fatalf("dev PKI: %v", err)
	}
	nw, err := network.New(ctx, network.WithLabels(labels()))
	if err != nil {
		t.Fatalf("create network: %v", err)
	}
	testcontainers.CleanupNetwork(t, nw)
	s := &Stack{Containers: map[string]*testcontainers.DockerContainer{}, Network: nw, CertsDir: certs, opts: opts}

	tier := []spec{
		{name: "postgres", image: pgtest.Image(t), opts: []testcontainers.ContainerCustomizer{
			publish("5432/tcp"),
			testcontainers.WithEnv(map[string]string{"POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": postgresPassword}),
			testcontainers.WithFiles(testcontainers.ContainerFile{
				HostFilePath:      filepath.Join(repoRoot(), "deploy", "postgres", "init", "01-databases.sql"),
				ContainerFilePath: "/docker-entrypoint-initdb.d/01-databases.sql", FileMode: 0o644,
			}),
			// Twice: once for the server that runs the init scripts, once for the real one.
			testcontainers.WithWaitStrategy(wait.ForLog("database system is ready to accept connections").
				WithOccurrence(2).WithStartupTimeout(90 * time.Second)),
		}},
		{name: "otelcol", identity: "otelcol", image: OtelcolImage, opts: []testcontainers.ContainerCustomizer{
			testcontainers.WithWaitStrategy(wait.ForLog("Everything is ready").WithStartupTimeout(60 * time.Second)),
		}},
		{name: "paysim", identity: "paysim", image: "shopmesh/paysim:dev", opts: []testcontainers.ContainerCustomizer{
			publish("8443/tcp"), hardened(),
			testcontainers.WithEnv(map[string]string{
				"TLS_CERT_FILE": "/certs/paysim.pem", "TLS_KEY_FILE": "/certs/paysim-key.pem", "PAYSIM_API_KEY": PSPAPIKey,
			}),
			testcontainers.WithWaitStrategy(wait.ForLog("paysim listening").WithStartupTimeout(30 * time.Second)),
		}},
	}
	members := etcdMembers(opts.EtcdMembers)
	var endpoints []string
	for _, m := range members {
		tier = append(tier, etcdSpec(m, members))
		endpoints = append(endpoints, "https://"+m+":2379")
	}
	s.startAll(t, tier...)
	s.startAll(t, etcdAccessSpec(endpoints))
	if st, err := s.Containers["etcdaccess"].State(ctx); err != nil || st.ExitCode != 0 {
		t.Fatalf("etcdaccess, the set-up of etcd's access control, failed: state %+v, %v", st, err)
	}

	svcEnv := map[string]string{
		"ETCD_ENDPOINTS":                 strings.Join(endpoints, ","),
		"TLS_DIR":                        "/certs",
		"LOG_LEVEL":                      "debug",
		"OTEL_EXPORTER_OTLP_ENDPOINT":    "https://otelcol:4317",
		"OTEL_EXPORTER_OTLP_CERTIFICATE": "/certs/ca.pem",
	}
	own := map[string]map[string]string{
		"inventory": database("inventory"),
		"order":     database("order"),
		"shipping":  database("shipping"),
		"payment": merge(database("payment"), map[string]string{
			"PSP_URL": "https://paysim:8443", "PSP_CA_FILE": "/certs/ca.pem", "PSP_API_KEY": PSPAPIKey,
		}),
		"gateway": {
			"JWT_SIGNING_KEY": JWTSigningKey,
			// The tests fire dozens of requests at once from one address;
			// the per-client limit is the gateway's unit tests' business.
			"RATE_LIMIT_RPS": "1000", "RATE_LIMIT_BURST": "2000",
			// The storefront's browser tests sign in as demo accounts.
			"DEV_SIGNIN": "true",
		},
	}
	replica := func(service string, n int) spec {
		return spec{name: fmt.Sprintf("%s-%d", service, n), alias: service, identity: service, image: "shopmesh/" + service + ":dev",
			env: merge(svcEnv, own[service], opts.Env[service]),
			opts: []testcontainers.ContainerCustomizer{
				// The service's own port (gRPC, or the gateway's HTTP) and
				// its admin port, published on loopback for the tests.
				publish("8080/tcp", "9090/tcp"), hardened(),
				testcontainers.WithWaitStrategy(wait.ForExec([]string{"/app", "healthcheck"}).
					WithPollInterval(200 * time.Millisecond).WithStartupTimeout(60 * time.Second)),
			}}
	}
	tier = nil
	for _, svc := range Services {
		for n := 1; n <= opts.Replicas; n++ {
			tier = append(tier, replica(svc, n))
		}
	}
	s.startAll(t, tier...)
	tier = nil
	for n := 1; n <= opts.Gateways; n++ {
		tier = append(tier, replica("gateway", n))
	}
	s.startAll(t, tier...)

	for n := 1; n <= opts.Gateways; n++ {
		s.GatewayURLs = append(s.GatewayURLs, "http://"+containertest.Reachable(t, s.Containers[fmt.Sprintf("gateway-%d", n)], "8080/tcp"))
	}
	s.GatewayURL = s.GatewayURLs[0]
	s.PaysimURL = "https://" + containertest.Reachable(t, s.Containers["paysim"], "8443/tcp")
	s.PostgresAddr = containertest.Reachable(t, s.Containers["postgres"], "5432/tcp")
	for _, m := range members {
		s.EtcdEndpoints = append(s.EtcdEndpoints, "https://"+containertest.Reachable(t, s.Containers[m], "2379/tcp"))
	}
	return s
}

// Replicas returns the container names of a service's replicas, in order.
func (s *Stack) Replicas(service string) []string {
	n := s.opts.Replicas
	if service == "gateway" {
		n = s.opts.Gateways
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d", service, i+1)
	}
	return names
}

// EtcdMembers returns the container names of the etcd members.
func (s *Stack) EtcdMembers() []string { return etcdMembers(s.opts.EtcdMembers) }

// AdminURL is the base URL of a service replica's admin port (/readyz,
// /healthz, /metrics) as seen from the test process.
func (s *Stack) AdminURL(t testing.TB, name string) string {
	return "http://" + containertest.Reachable(t, s.Containers[name], "9090/tcp")
}

// ServiceAddr is host:port of a service replica's own port (gRPC over mTLS)
// as seen from the test process.
func (s *Stack) ServiceAddr(t testing.TB, name string) string {
	return containertest.Reachable(t, s.Containers[name], "8080/tcp")
}

func etcdMembers(n int) []string {
	if n == 1 {
		return []string{"etcd"}
	}
	return []string{"etcd-0", "etcd-1", "etcd-2"}
}

// etcdSpec is one etcd member of members, with TLS for clients and peers;
// its certificate names it ("etcd", "etcd-0"...) and members verify each
// other's.
func etcdSpec(name string, members []string) spec {
	args := []string{
		"--name=" + name, "--data-dir=/data",
		"--listen-client-urls=https://0.0.0.0:2379", "--advertise-client-urls=https://" + name + ":2379",
		"--client-cert-auth", "--trusted-ca-file=/certs/ca.pem",
		"--cert-file=/certs/etcd.pem", "--key-file=/certs/etcd-key.pem",
	}
	if len(members) > 1 {
		var cluster []string
		for _, m := range members {
			cluster = append(cluster, m+"=https://"+m+":2380")
		}
		args = append(args,
			"--listen-peer-urls=https://0.0.0.0:2380", "--initial-advertise-peer-urls=https://"+name+":2380",
			"--initial-cluster="+strings.Join(cluster, ","), "--initial-cluster-state=new",
			"--initial-cluster-token=shopmesh-e2e",
			"--peer-client-cert-auth", "--peer-trusted-ca-file=/certs/ca.pem",
			"--peer-cert-file=/certs/etcd.pem", "--peer-key-file=/certs/etcd-key.pem")
	}
	return spec{name: name, identity: "etcd", image: EtcdImage, opts: []testcontainers.ContainerCustomizer{
		testcontainers.WithCmd(args...),
		publish("2379/tcp"),
		testcontainers.WithWaitStrategy(wait.ForLog("ready to serve client requests").WithStartupTimeout(60 * time.Second)),
	}}
}

// etcdAccessSpec is the one-shot that turns on etcd's access control, as
// in compose: services may write only their own registrations, the gateway
// may only read. startAll returns once it has exited successfully.
func etcdAccessSpec(endpoints []string) spec {
	return spec{name: "etcdaccess", identity: "etcdaccess", image: "shopmesh/etcdaccess:dev", opts: []testcontainers.ContainerCustomizer{
		testcontainers.WithCmd("-endpoints="+strings.Join(endpoints, ","),
			"-registrants="+strings.Join(Services, ","), "-readers=gateway", "-admins=etcdaccess,admin"),
		hardened(),
		testcontainers.WithWaitStrategy(wait.ForExit().WithExitTimeout(90 * time.Second)),
	}}
}

// publish exposes a container's ports on loopback only, each at a host
// port fixed when the container is made, so that it stays the same when a
// test stops and starts the container (Docker would pick a new one).
func publish(ports ...string) testcontainers.CustomizeRequestOption {
	return func(req *testcontainers.GenericContainerRequest) error {
		if err := testcontainers.WithExposedPorts(ports...)(req); err != nil {
			return err
		}
		bindings := dockernet.PortMap{}
		for _, p := range ports {
			port, err := dockernet.ParsePort(p)
			if err != nil {
				return err
			}
			host, err := freePort()
			if err != nil {
				return err
			}
			bindings[port] = []dockernet.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: strconv.Itoa(host)}}
		}
		return testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			if hc.PortBindings == nil {
				hc.PortBindings = dockernet.PortMap{}
			}
			maps.Copy(hc.PortBindings, bindings)
		})(req)
	}
}

var (
	portsMu sync.Mutex
	ports   = map[int]bool{} // host ports handed out by this test binary
)

// freePort returns a loopback port nothing listens on, never the same twice.
func freePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0") //nolint:noctx // asks the kernel for a free port and closes it at once
		if err != nil {
			return 0, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !ports[p] {
			ports[p] = true
			return p, nil
		}
	}
	return 0, errors.New("no free loopback port")
}

// database points a service at its own database, created with its own
// role by deploy/postgres/init/01-databases.sql.
func database(service string) map[string]string {
	return map[string]string{
		"DATABASE_URL": fmt.Sprintf("postgres://%s:%s-dev@postgres:5432/%s?sslmode=disable", service, service, service),
	}
}

// merge returns one map with the entries of ms, later ones winning.
func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// spec is one container to start: its name (also its alias on the
// network), an extra alias shared by replicas, the identity whose
// certificate directory it mounts (none: empty), its image, its environment
// and what else it needs.
type spec struct {
	name, alias, identity, image string
	env                          map[string]string
	opts                         []testcontainers.ContainerCustomizer
}

// hardened runs a container as compose's x-hardened does: read-only root
// filesystem, no new privileges, no capabilities. For the containers that
// write nothing (etcd and the collector keep data in their /data).
func hardened() testcontainers.CustomizeRequestOption {
	return testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
		hc.ReadonlyRootfs = true
		hc.SecurityOpt = append(hc.SecurityOpt, "no-new-privileges:true")
		hc.CapDrop = append(hc.CapDrop, "ALL")
	})
}

// RotateCertificates re-issues every certificate of the stack from the
// same CA, as make certs ROTATE=1 does: the containers see the new files
// through their bind mounts, and the services reload them
// (TLS_RELOAD_INTERVAL).
func (s *Stack) RotateCertificates(t testing.TB) {
	t.Helper()
	opts := pkiOptions()
	opts.Reissue = true
	if _, err := devpki.Generate(s.CertsDir, identities, opts); err != nil {
		t.Fatalf("rotate the PKI: %v", err)
	}
}

// startAll starts the containers of specs at once, on the stack's network,
// each with its identity's certificate directory mounted read-only at
// /certs, and waits for each to be ready. Every container is removed when
// the test ends, and its logs are printed if the test failed.
func (s *Stack) startAll(t testing.TB, specs ...spec) {
	t.Helper()
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for i, sp := range specs {
		wg.Go(func() {
			aliases := []string{sp.name}
			if sp.alias != "" {
				aliases = append(aliases, sp.alias)
			}
			opts := append([]testcontainers.ContainerCustomizer{
				network.WithNetwork(aliases, s.Network),
				testcontainers.WithLabels(labels()),
				testcontainers.WithEnv(sp.env),
			}, sp.opts...)
			if sp.identity != "" {
				// A bind mount, not a copy: a rotation on the host reaches
				// the running container, as with compose and a Kubernetes
				// Secret.
				dir := filepath.Join(s.CertsDir, sp.identity)
				opts = append(opts, testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
					hc.Binds = append(hc.Binds, dir+":/certs:ro")
				}))
			}
			if env := s.opts.Env[sp.name]; len(env) > 0 {
				opts = append(opts, testcontainers.WithEnv(env))
			}
			c, err := testcontainers.Run(t.Context(), sp.image, opts...)
			s.mu.Lock()
			defer s.mu.Unlock()
			if c != nil {
				// Clean up even a container that failed to become ready.
				s.Containers[sp.name] = c
			}
			if err != nil {
				errs[i] = fmt.Errorf("start %s: %w", sp.name, err)
			}
		})
	}
	wg.Wait()
	for _, sp := range specs {
		c := s.Containers[sp.name]
		if c == nil {
			continue
		}
		testcontainers.CleanupContainer(t, c)
		t.Cleanup(func() {
			if t.Failed() {
				s.dumpLogs(t, sp.name, c)
			}
		})
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
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
	b, _ := io.ReadAll(rc)
	if dir := os.Getenv("E2E_LOGS_DIR"); dir != "" {
		// The whole log, for reading after the run; the test output gets
		// the end, where a failure usually is.
		path := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()), name+".log")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
			_ = os.WriteFile(path, b, 0o644)
		}
	}
	const keep = 64 << 10
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	t.Logf("--- logs of %s (the last %d KiB; E2E_LOGS_DIR keeps them whole) ---\n%s", name, keep>>10, b)
}

// Span is one exported span, as read from the collector's file export.
type Span = traceview.Span

// Spans reads every span the collector has written so far.
func (s *Stack) Spans(ctx context.Context) ([]Span, error) {
	rc, err := s.Containers["otelcol"].CopyFileFromContainer(ctx, "/data/traces.jsonl")
	if err != nil {
		return nil, fmt.Errorf("read collector export: %w", err)
	}
	defer rc.Close()
	return traceview.Read(rc, "")
}
