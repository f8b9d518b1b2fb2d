// Package etcdtest runs real etcd members inside a test process
// (go.etcd.io/etcd/server/v3/embed), so discovery is tested against the same
// server code that runs in production, with no container.
//
// Every member sits behind two TCP proxies, one for clients and one for its
// peers, and advertises the proxies' addresses. That buys three things a bare
// embedded member does not give:
//   - a stopped member is gone at once: the proxies cut every connection, so
//     clients see what they would see if the process died, instead of the
//     several seconds embed.Etcd.Close otherwise spends draining open watch
//     and keep-alive streams (during which they keep working);
//   - a member restarts on the same advertised addresses with no port reuse
//     race: only the proxies' ports are public, and they stay open for the
//     whole test, while the member binds fresh ports each time it starts;
//   - a member can be killed (no leadership hand-over) or stopped gracefully.
package etcdtest

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Raft timing for tests: 10x faster than etcd's defaults (100ms/1s) would be
// flaky under the race detector; these keep a 3-member election and a failover
// under a second without spurious elections.
const (
	tickMs     = 50
	electionMs = 500

	readyTimeout = 20 * time.Second
)

// Member is one embedded etcd member.
type Member struct {
	// Name is the member's name in the cluster (m0, m1, ...).
	Name string
	// Endpoint is the client URL to give clients; it stays valid across
	// Stop and Restart.
	Endpoint string

	dir            string
	clientTLS      *transport.TLSInfo // nil: plaintext clients
	peerURL        url.URL
	initialCluster string
	clientProxy    *proxy
	peerProxy      *proxy

	mu   sync.Mutex
	etcd *embed.Etcd // nil while stopped
}

// Server is the single-member case of Member; Start returns one.
type Server = Member

// Start runs a single etcd member on free loopback ports and kills it when
// the test ends.
func Start(t testing.TB) *Member {
	t.Helper()
	return StartCluster(t, 1).Members[0]
}

// StartTLS runs a single member that serves clients over TLS with the
// identity "etcd" of the PKI in certDir (as devpki writes it) and requires a
// client certificate from that PKI's CA, as shopmesh's etcd does; its
// Endpoint is https. Member.Client does not apply: connect with a client of
// your own.
func StartTLS(t testing.TB, certDir string) *Member {
	t.Helper()
	return startCluster(t, 1, &transport.TLSInfo{
		CertFile:       filepath.Join(certDir, "etcd.pem"),
		KeyFile:        filepath.Join(certDir, "etcd-key.pem"),
		TrustedCAFile:  filepath.Join(certDir, "ca.pem"),
		ClientCertAuth: true,
	}).Members[0]
}

// Cluster is a set of embedded members forming one etcd cluster.
type Cluster struct {
	Members []*Member
}

// StartCluster runs an n-member cluster on free loopback ports, waits until
// every member is ready and kills them all when the test ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	return startCluster(t, n, nil)
}

func startCluster(t testing.TB, n int, clientTLS *transport.TLSInfo) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("etcdtest: cluster of %d members", n)
	}
	c := &Cluster{}
	var initial []string
	for i := range n {
		m := &Member{Name: fmt.Sprintf("m%d", i), dir: t.TempDir(), clientTLS: clientTLS}
		var err error
		if m.clientProxy, err = newProxy(); err != nil {
			t.Fatalf("etcdtest: %v", err)
		}
		t.Cleanup(m.clientProxy.close)
		if m.peerProxy, err = newProxy(); err != nil {
			t.Fatalf("etcdtest: %v", err)
		}
		t.Cleanup(m.peerProxy.close)
		m.Endpoint = m.clientScheme() + "://" + m.clientProxy.addr()
		m.peerURL = url.URL{Scheme: "http", Host: m.peerProxy.addr()}
		initial = append(initial, m.Name+"="+m.peerURL.String())
		c.Members = append(c.Members, m)
	}
	// Registered after the proxies' cleanups, so it runs before them.
	t.Cleanup(func() {
		for _, m := range c.Members {
			m.Kill()
		}
	})
	for _, m := range c.Members {
		m.initialCluster = strings.Join(initial, ",")
		if err := m.start(); err != nil {
			t.Fatalf("etcdtest: start %s: %v", m.Name, err)
		}
	}
	for _, m := range c.Members {
		m.waitReady(t)
	}
	return c
}

// start launches the member on fresh internal ports and points its proxies
// at them. With data in dir it rejoins as the member it was.
func (m *Member) start() error {
	cfg := embed.NewConfig()
	cfg.Name = m.Name
	cfg.Dir = m.dir
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	fresh := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls = []url.URL{{Scheme: m.clientScheme(), Host: fresh.Host}}
	if m.clientTLS != nil {
		cfg.ClientTLSInfo = *m.clientTLS
	}
	cfg.AdvertiseClientUrls = []url.URL{mustParse(m.Endpoint)}
	cfg.ListenPeerUrls = []url.URL{fresh}
	cfg.AdvertisePeerUrls = []url.URL{m.peerURL}
	cfg.InitialCluster = m.initialCluster
	cfg.InitialClusterToken = "etcdtest"
	cfg.TickMs, cfg.ElectionMs = tickMs, electionMs
	// Test data need not survive a machine crash; fsync only slows tests.
	cfg.UnsafeNoFsync = true
	cfg.EnableGRPCGateway = false
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.etcd = e
	m.mu.Unlock()
	m.peerProxy.up(e.Peers[0].Listener.Addr().String())
	m.clientProxy.up(e.Clients[0].Addr().String())
	return nil
}

func (m *Member) clientScheme() string {
	if m.clientTLS != nil {
		return "https"
	}
	return "http"
}

func (m *Member) waitReady(t testing.TB) {
	t.Helper()
	e := m.Etcd()
	if e == nil {
		t.Fatalf("etcdtest: %s is not running", m.Name)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		t.Fatalf("etcdtest: %s failed: %v", m.Name, err)
	case <-time.After(readyTimeout):
		t.Fatalf("etcdtest: %s not ready after %v", m.Name, readyTimeout)
	}
}

// Etcd returns the running server, or nil while the member is stopped.
func (m *Member) Etcd() *embed.Etcd {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.etcd
}

// Running reports whether the member runs.
func (m *Member) Running() bool { return m.Etcd() != nil }

// Stop stops the member gracefully, the way a SIGTERM does: a leader hands
// its leadership over first. Clients lose their connections at once. Safe to
// call on a stopped member.
func (m *Member) Stop() { m.shutdown(true) }

// Kill stops the member abruptly, the way a crash does: no leadership
// hand-over, so the others need an election timeout to notice and elect a
// new leader. Safe to call on a stopped member.
func (m *Member) Kill() { m.shutdown(false) }

func (m *Member) shutdown(graceful bool) {
	m.mu.Lock()
	e := m.etcd
	m.etcd = nil
	m.mu.Unlock()
	if e == nil {
		return
	}
	// Clients first: their streams end now, as with a dead process, and
	// Close does not wait on them.
	m.clientProxy.down()
	if !graceful {
		m.peerProxy.down()
		// Stopping raft first empties the transport's peer list, so Close
		// finds no one to hand leadership to and skips the transfer.
		e.Server.HardStop()
	}
	e.Close()
	m.peerProxy.down()
}

// Restart starts a stopped member again with its data and addresses, and
// waits until it is ready (for a cluster member: until it rejoined).
func (m *Member) Restart(t testing.TB) {
	t.Helper()
	if m.Running() {
		t.Fatalf("etcdtest: restart %s: still running", m.Name)
	}
	if err := m.start(); err != nil {
		t.Fatalf("etcdtest: restart %s: %v", m.Name, err)
	}
	m.waitReady(t)
}

// IsLeader reports whether the member runs and believes it leads.
func (m *Member) IsLeader() bool {
	e := m.Etcd()
	return e != nil && e.Server.Leader() == e.Server.MemberID()
}

// Client returns a client of this member only, closed when the test ends.
func (m *Member) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	return newClient(t, []string{m.Endpoint})
}

// String helps error messages name the member.
func (m *Member) String() string { return fmt.Sprintf("etcd %s at %s", m.Name, m.Endpoint) }

// Endpoints lists every member's client URL.
func (c *Cluster) Endpoints() []string {
	eps := make([]string, len(c.Members))
	for i, m := range c.Members {
		eps[i] = m.Endpoint
	}
	return eps
}

// Client returns a client over every member, closed when the test ends.
func (c *Cluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	return newClient(t, c.Endpoints())
}

// Leader waits until the running members agree on a leader and returns it.
func (c *Cluster) Leader(t testing.TB) *Member {
	t.Helper()
	var leader *Member
	Eventually(t, 10*time.Second, "running members agree on a leader", func() bool {
		leader = nil
		var lead uint64
		for _, m := range c.Members {
			e := m.Etcd()
			if e == nil {
				continue
			}
			l := uint64(e.Server.Leader())
			if l == 0 || (lead != 0 && l != lead) {
				return false
			}
			lead = l
			if m.IsLeader() {
				leader = m
			}
		}
		return leader != nil
	})
	return leader
}

func newClient(t testing.TB, endpoints []string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func mustParse(s string) url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(fmt.Sprintf("etcdtest: parse %s: %v", s, err))
	}
	return *u
}

// Eventually polls cond every 20ms until it holds or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// proxy forwards TCP connections to a member's current address. While the
// member is down it accepts and closes at once, which a client sees as a
// member that is not there.
type proxy struct {
	ln net.Listener
	wg sync.WaitGroup

	mu     sync.Mutex
	target string // "" while down
	gen    int    // bumped by down, so a dial that raced it is dropped
	conns  map[net.Conn]struct{}
}

func newProxy() (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy listen: %w", err)
	}
	p := &proxy{ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.handle(c)
	}
}

func (p *proxy) handle(c net.Conn) {
	defer p.wg.Done()
	p.mu.Lock()
	target, gen := p.target, p.gen
	p.mu.Unlock()
	if target == "" {
		_ = c.Close()
		return
	}
	u, err := net.DialTimeout("tcp", target, time.Second)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	if p.gen != gen {
		p.mu.Unlock()
		_ = c.Close()
		_ = u.Close()
		return
	}
	p.conns[c], p.conns[u] = struct{}{}, struct{}{}
	p.mu.Unlock()

	// A direction that ends ends the connection: gRPC and raft's HTTP
	// streams have no use for half-closed sockets.
	var back sync.WaitGroup
	back.Go(func() {
		_, _ = io.Copy(u, c)
		_ = c.Close()
		_ = u.Close()
	})
	_, _ = io.Copy(c, u)
	_ = c.Close()
	_ = u.Close()
	back.Wait()

	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, u)
	p.mu.Unlock()
}

// up forwards new connections to target.
func (p *proxy) up(target string) {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
}

// down cuts every forwarded connection and refuses new ones.
func (p *proxy) down() {
	p.mu.Lock()
	p.target = ""
	p.gen++
	conns := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// close stops the proxy and waits for its goroutines.
func (p *proxy) close() {
	_ = p.ln.Close()
	p.down()
	p.wg.Wait()
}
